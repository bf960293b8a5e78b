"""Regenerates an issue-21 variant fixture without node (golden ids copied from the base fixture, whose tokenizer
the variant shares). usage: /usr/bin/python3 variant_qwen3_nonode.py SPEC.json OUT_DIR (run from a checkout: reads ../../fixtures/tiny-qwen3)."""
import sys, json, os, shutil
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import family_qwen3_phi3_common as C
src = os.path.join(HERE, '..', '..', 'fixtures', 'tiny-qwen3')
def golden_tokens(tok_dir, strings_path, special, overrides=None):
    g = json.load(open(os.path.join(src, 'golden_tokens_with_special.json' if special else 'golden_tokens.json'), encoding='utf-8'))
    strings = json.load(open(strings_path, encoding='utf-8'))
    return {k: g[k] for k in strings}
C.golden_tokens = golden_tokens
import family_qwen3 as Q
def make_tok(out, n_merges):
    for f in ('tokenizer.json', 'tokenizer_config.json'):
        shutil.copy(os.path.join(src, f), os.path.join(out, f))
    t = json.load(open(os.path.join(src, 'tokenizer.json')))
    added = {a['content']: a['id'] for a in t['added_tokens']}
    return min(added.values()), added
Q.make_qwen3_tokenizer = make_tok
Q.build_model(sys.argv[1], sys.argv[2])
