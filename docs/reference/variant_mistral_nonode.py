"""Regenerates an issue-21 variant fixture without node (golden ids copied from the base fixture, whose tokenizer
the variant shares). usage: /usr/bin/python3 variant_mistral_nonode.py SPEC.json OUT_DIR (run from a checkout: reads ../../fixtures/tiny-mistral)."""
import sys, json, os, shutil
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import family_mistral_gemma2 as m
src = os.path.join(HERE, '..', '..', 'fixtures', 'tiny-mistral')
def golden(d, strings):
    for f in ("golden_tokens.json", "golden_tokens_with_special.json"):
        shutil.copy(os.path.join(src, f), os.path.join(d, f))
m.golden = golden
m.fixture(sys.argv[1], sys.argv[2])
