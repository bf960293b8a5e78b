#!/bin/bash
# A SharpLens dataset study as a Slurm job array: each array task computes one shard (study --shard slurm).
#
#   jobid=$(sbatch --parsable --array=0-15 deploy/slurm-study.sh pairs.jsonl out --model /models/Qwen1.5-1.8B-Chat)
#   sbatch --dependency=afterok:$jobid --wrap "sharplens merge out/shard-* --out out/merged"
#
# Arguments: the dataset, the output folder (each task writes OUT/shard-<task id>/shard.json), then any study options
# (--model, --only, --ablation, --seed …: the same for every task, or merge refuses the shards). The array must be
# contiguous (--array=0-N or 1-N): its tasks number the shards. SHARPLENS is the command (default: sharplens on PATH;
# e.g. SHARPLENS="dotnet /opt/sharplens/sharplens.dll").
#SBATCH --job-name=sharplens-study
#SBATCH --cpus-per-task=8
#SBATCH --output=sharplens-study-%A_%a.out
set -euo pipefail
if [ $# -lt 2 ]; then echo "usage: sbatch --array=0-N $0 DATASET OUT [study options…]" >&2; exit 2; fi
dataset=$1 out=$2
shift 2
read -ra sharplens <<< "${SHARPLENS:-sharplens}"
exec "${sharplens[@]}" study --dataset "$dataset" --shard slurm --no-report --out "$out/shard-$SLURM_ARRAY_TASK_ID" "$@"
