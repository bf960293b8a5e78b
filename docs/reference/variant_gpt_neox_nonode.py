"""Regenerates an issue-21 variant fixture without node (golden ids copied from the base fixture, whose tokenizer
the variant shares). usage: /usr/bin/python3 variant_gpt_neox_nonode.py SPEC.json OUT_DIR (run from a checkout: reads ../../fixtures/tiny-gpt-neox)."""
import sys, json, os, shutil
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import family_gpt2 as G
src = os.path.join(HERE, '..', '..', 'fixtures', 'tiny-gpt-neox')
def golden_tokens(out, strings):
    g = json.load(open(os.path.join(src, 'golden_tokens.json')))
    json.dump(g, open(os.path.join(out, 'golden_tokens.json'), 'w'), ensure_ascii=False, indent=1)
    return g
G.golden_tokens = golden_tokens
import family_gpt_neox as N
N.build(json.load(open(sys.argv[1])), sys.argv[2])
