"""Pair SharpLens's 25-token forward with the PyTorch reference's, round by round, on the same machine.

On a shared machine both timings drift with the host's load, so a ratio of two separate runs says little. This
holds the fp32 PyTorch reference model (docs/reference/bench_torch.py: Qwen1.5-1.8B-Chat's shapes, the seed prompt's
25 tokens) in one process and, in each round, times 3 PyTorch forwards and then runs
`sharplens bench --forward-only --json` (median of 7 forwards after a warm-up) in a child process.

usage: /usr/bin/python3 tools/pair_with_torch.py MODEL_DIR [--rounds N] [--threads T] [--sharplens CMD]
  MODEL_DIR   a checkpoint with the 1.8B shapes (`sharplens make-random --like qwen1.5-1.8b --out DIR`)
  --threads   PyTorch's threads (default: all cores, as SharpLens's kernels use)
  --sharplens the command that runs sharplens (default: dotnet src/SharpLens.Cli/bin/Release/net10.0/sharplens.dll)
needs: apt-get install python3-torch libopenblas0-pthread (set OPENBLAS_CORETYPE where OpenBLAS does not know the CPU)
prints: one line per round, then one JSON object (ratios, their median, rounds at >= 5x)
"""
import argparse, json, os, shlex, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "docs", "reference"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--sharplens", default="dotnet " + os.path.join(ROOT, "src/SharpLens.Cli/bin/Release/net10.0/sharplens.dll"))
    a = ap.parse_args()

    import torch
    from make_model import make_config, init_weights, Ref
    from bench_torch import QWEN15_1_8B
    torch.set_num_threads(a.threads)
    cfg = make_config(QWEN15_1_8B)
    # The timing does not depend on the values: the reference's own random weights, rounded to bf16 as in bench_torch.py.
    weights = {k: v.to(torch.bfloat16).to(torch.float32) for k, v in init_weights(cfg, 7).items()}
    ref, ids = Ref(cfg, weights), list(range(1000, 1025))
    command = shlex.split(a.sharplens) + ["bench", "--model", a.model_dir, "--forward-only", "--json"]
    rounds = []
    with torch.no_grad():
        ref.run(ids)  # warm-up
        for r in range(a.rounds):
            t, n = time.perf_counter(), 3
            for _ in range(n):
                ref.run(ids)
            torch_s = (time.perf_counter() - t) / n
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"sharplens failed (exit {done.returncode}): {done.stderr.strip()}")
            ours = json.loads(done.stdout)
            if ours["prompt_tokens"] != len(ids):
                sys.exit(f"sharplens timed {ours['prompt_tokens']} tokens, the reference {len(ids)}")
            rounds.append({"torch_s": round(torch_s, 3), "sharplens_s": ours["forward_s"], "ratio": round(torch_s / ours["forward_s"], 2)})
            print(f"round {r}: PyTorch {torch_s:.3f} s, SharpLens {ours['forward_s']:.3f} s (median of "
                  f"{len(ours['forward_runs_s'])}), ratio {rounds[-1]['ratio']:.2f}", flush=True)
    ratios = [x["ratio"] for x in rounds]
    print(json.dumps({"threads": a.threads, "torch": torch.__version__, "machine": ours["machine"], "rounds": rounds,
                      "median_ratio": statistics.median(ratios), "rounds_at_5x": sum(x >= 5 for x in ratios)}))


if __name__ == "__main__":
    main()
