using SharpLens.Kernels;
using SharpLens.Loading;

namespace SharpLens.Model;

/// <summary>
/// A decoder-only model of a supported family (Qwen2, Llama, GPT-2: <see cref="Loading.Families.ModelFamilies"/>) with
/// TransformerLens-style hook points. The API is small:
/// <c>Run</c> (logits), <c>RunWithCache</c> (logits and activations),
/// <c>RunWithHooks</c> (callbacks that read or overwrite activations), <see cref="RunFromLayer"/>
/// (resume with a supplied residual stream), and <see cref="Forward"/> underneath them all.
/// Weights stay memory-mapped in their stored dtype; arithmetic is fp32.
/// </summary>
public sealed partial class HookedTransformer : IDisposable
{
    readonly Checkpoint _checkpoint;
    readonly object _runLock = new();
    bool _running;   // guarded by _runLock

    public ModelConfig Config { get; }
    public ModelWeights Weights { get; }
    public HookNames HookNames { get; }
    public string Directory => _checkpoint.Directory;
    internal Rotary Rotary { get; }
    internal ActivationArena Arena { get; } = new();
    /// <summary>Arrays that gradient runs reuse across calls (cached activations, hook gradients, backward buffers).</summary>
    internal TensorPool Pool { get; } = new();

    HookedTransformer(Checkpoint checkpoint)
    {
        _checkpoint = checkpoint;
        Config = checkpoint.Config;
        Weights = ModelWeights.From(checkpoint);
        HookNames = new HookNames(Config.NLayers, Config.Design);
        Rotary = new Rotary(Config.DHead, Config.RopeTheta, Config.RopeScaling, Config.RotaryDims);
    }

    /// <summary>
    /// Opens and validates a Hugging Face model directory, then checks that the machine has the memory for the weights
    /// and for runs of <paramref name="promptTokens"/>-token prompts, <paramref name="cachedRuns"/> of them with cached
    /// activations kept at once (<see cref="MemoryBudget"/>), before anything is read.
    /// </summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Checkpoint"/>) for a missing, damaged or unsupported
    /// checkpoint; (<see cref="ExitCode.Memory"/>) when the estimate exceeds the available memory.</exception>
    public static HookedTransformer Load(string modelDir, int promptTokens = 128, int cachedRuns = 2)
    {
        var ckpt = Checkpoint.Open(modelDir);
        try
        {
            MemoryBudget.Ensure(ckpt.Config, ckpt.WeightBytes + ckpt.CopiedBytes, promptTokens, cachedRuns, modelDir);
            return new HookedTransformer(ckpt);
        }
        catch { ckpt.Dispose(); throw; }
    }

    readonly Dictionary<string, (float[] Rows, WeightMatrix View)> _unembedRows = new();

    /// <summary>The unembedding rows of <paramref name="tokens"/> widened to a pinned fp32 matrix [tokens, d_model],
    /// kept for later runs with the same selection (sweeps ask for the same pair thousands of times).</summary>
    internal WeightMatrix UnembedRows(int[] tokens)
    {
        string key = string.Join(',', tokens);
        lock (_unembedRows)
        {
            if (_unembedRows.TryGetValue(key, out var hit)) return hit.View;
            int d = Config.DModel;
            var rows = GC.AllocateArray<float>(tokens.Length * d, pinned: true);
            for (int i = 0; i < tokens.Length; i++) Weights.Unembed.ReadRow(tokens[i], rows.AsSpan(i * d, d));
            if (_unembedRows.Count > 64) _unembedRows.Clear();
            var view = WeightMatrix.FromPinned(rows, tokens.Length, d);
            _unembedRows[key] = (rows, view);
            return view;
        }
    }

    /// <summary>Bytes of weights mapped from disk.</summary>
    public long WeightBytes => _checkpoint.WeightBytes;

    /// <summary>Logits [batch, pos, vocab] of prompts of any lengths, padded on <paramref name="paddingSide"/> to the
    /// longest (<see cref="PromptBatch"/>: <c>PromptBatch.From(tokens, side).LastLogits(logits, b)</c> reads a prompt's
    /// last position; <c>RunBatch</c> returns the layout with the logits). With <paramref name="stopAtLayer"/>:
    /// the residual stream [batch, pos, d_model] before that block instead (TransformerLens' <c>stop_at_layer</c>).</summary>
    public Tensor Run(int[][] tokens, PaddingSide paddingSide = PaddingSide.Right, int? stopAtLayer = null)
    {
        var r = Forward(tokens, new RunOptions { Padding = paddingSide, StopAtLayer = stopAtLayer });
        return r.Residual ?? r.Logits!;
    }

    /// <summary>Logits [batch, pos, vocab] and the batch's layout (lengths, attention mask, last rows).</summary>
    public (Tensor Logits, PromptBatch Batch) RunBatch(int[][] tokens, PaddingSide paddingSide = PaddingSide.Right)
    {
        var r = Forward(tokens, new RunOptions { Padding = paddingSide });
        return (r.Logits!, r.Batch!);
    }

    /// <summary>Logits and the activations whose names pass <paramref name="filter"/> (all when null); prompts of any
    /// lengths (the cache's <see cref="ActivationCache.Batch"/> says which rows are whose).</summary>
    public (Tensor Logits, ActivationCache Cache) RunWithCache(int[][] tokens, Func<string, bool>? filter = null, PaddingSide paddingSide = PaddingSide.Right)
    {
        var r = Forward(tokens, new RunOptions { CacheFilter = filter ?? (_ => true), Padding = paddingSide });
        return (r.Logits!, r.Cache);
    }

    /// <summary>Logits of a run in which each hook reads or overwrites its activation, per batch item. Hooks see padded
    /// rows: <see cref="PromptBatch.Row"/> maps a prompt's position to its row.</summary>
    public Tensor RunWithHooks(int[][] tokens, HookSet hooks, PaddingSide paddingSide = PaddingSide.Right) =>
        Forward(tokens, new RunOptions { Hooks = hooks, Padding = paddingSide }).Logits!;

    /// <summary>Resumes at <paramref name="layer"/> with <c>blocks.layer.hook_resid_pre</c> = <paramref name="residual"/>
    /// [batch, pos, d_model]; returns logits [batch, pos, vocab].</summary>
    public Tensor RunFromLayer(int layer, Tensor residual, HookSet? hooks = null)
    {
        if (residual.Rank != 3 || residual.Shape[2] != Config.DModel)
            throw new ArgumentException($"residual must be [batch, pos, {Config.DModel}], got {residual}");
        var dummy = Enumerable.Range(0, residual.Shape[0]).Select(_ => new int[residual.Shape[1]]).ToArray();
        return Forward(dummy, new RunOptions { StartLayer = layer, StartResidual = residual, Hooks = hooks ?? HookSet.Empty }).Logits!;
    }

    /// <summary>The general run: see <see cref="RunOptions"/>.</summary>
    public RunResult Forward(int[][] tokens, RunOptions options)
    {
        if (tokens.Length == 0) throw new ArgumentException("empty batch");
        HookNames.CheckAll(options.Hooks.Names);   // a misspelt hook would hook nothing and read as "no effect"
        var batch = PromptBatch.From(tokens, options.Padding);
        if (batch.IsPadded && (options.StartResidual != null || options.QStart > 0 || options.StartLayer > 0))
            throw new ArgumentException("a run that resumes (StartLayer, StartResidual, QStart) needs prompts of one length", nameof(options));
        tokens = batch.Tokens;
        int T = batch.Width;
        int stop = options.StopAtLayer is { } s ? (s < 0 ? s + Config.NLayers : s) : Config.NLayers;
        if (stop < options.StartLayer || stop > Config.NLayers)
            throw new ArgumentOutOfRangeException(nameof(options), $"stop at layer {options.StopAtLayer}: the model has {Config.NLayers} layers");
        if (options.StartResidual == null)
            foreach (var id in tokens.SelectMany(t => t))
                if ((uint)id >= (uint)Config.VocabSize) throw SharpLensException.Input($"token id {id} is outside the vocabulary (size {Config.VocabSize})");
        if ((uint)options.StartLayer > (uint)Config.NLayers) throw new ArgumentOutOfRangeException(nameof(options), $"start layer {options.StartLayer}");
        if (options.QStart < 0 || options.QStart >= T) throw new ArgumentOutOfRangeException(nameof(options), $"QStart {options.QStart}");
        if (options.Prefixes is { } ps && ps.Length != tokens.Length)
            throw new ArgumentException($"{ps.Length} KV prefixes for a batch of {tokens.Length}", nameof(options));
        if (options.LogitTokens is { } sel && (sel.Length == 0 || sel.Any(t => (uint)t >= (uint)Config.VocabSize)))
            throw new ArgumentOutOfRangeException(nameof(options), "LogitTokens must be non-empty ids inside the vocabulary");
        if (options.LogitsInto is { } into)
        {
            int[] shape = [tokens.Length, options.Logits == LogitsMode.Last ? 1 : T - options.QStart, options.LogitTokens?.Length ?? Config.VocabSize];
            if (options.Logits == LogitsMode.None || !into.Shape.AsSpan().SequenceEqual(shape))
                throw new ArgumentException($"LogitsInto is {into}, the logits are " +
                    (options.Logits == LogitsMode.None ? "not computed (LogitsMode.None)" : $"Tensor[{string.Join(", ", shape)}]"), nameof(options));
        }
        if (options.QStart > 0)
            foreach (var pre in options.Prefixes ?? [options.Prefix!])
                if (pre is null || pre.Length < options.QStart || pre.RotK.Length != Config.NLayers || pre.V.Length != Config.NLayers)
                    throw new ArgumentException($"QStart {options.QStart} needs a KV prefix of at least {options.QStart} positions for all {Config.NLayers} layers", nameof(options));
        lock (_runLock)
        {
            // Monitor is re-entrant: without this check a hook that runs the model would overwrite the arena buffers
            // of the run that called it, and that run would silently go on with the nested run's activations.
            if (_running) throw new InvalidOperationException("a hook ran the model it is hooked into; runs of one model share its buffers, so collect what the hook needs and run afterwards");
            _running = true;
            try
            {
                var result = new ForwardPass(this, batch, options, stop).Run(tokens);
                result.Cache.Model = this;
                result.Cache.Batch = batch;
                return result with { Batch = batch };
            }
            finally { _running = false; }
        }
    }

    public void Dispose() { Pool.Clear(); _checkpoint.Dispose(); }

    /// <summary>Drops the arrays this model keeps for reuse by later gradient runs (at most 512 MB, given back by disposed
    /// <see cref="GradientResult"/>s and caches, and by each backward's working buffers), for the GC to reclaim.</summary>
    public void ReleasePooledMemory() => Pool.Clear();
}
