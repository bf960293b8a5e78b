using SharpLens.Tokenization;

namespace SharpLens.Model;

/// <summary>
/// Text generation with hooks active (steering), reusing keys and values between steps: the prompt runs once in full,
/// then each new token runs alone (<see cref="RunOptions.QStart"/> = its position) attending to the rotated keys and
/// values kept from the earlier steps, as TransformerLens' <c>generate</c> with its past key/value cache. Hooks see, at
/// each step, only the positions that step computes (<see cref="HookPoint.PosOffset"/> says where they start).
/// </summary>
public sealed partial class HookedTransformer
{
    /// <summary>The prompt's tokens followed by up to <paramref name="maxNewTokens"/> generated ones.</summary>
    /// <param name="prompt">Token ids (BOS included if wanted).</param>
    /// <param name="maxNewTokens">How many tokens to add at most.</param>
    /// <param name="temperature">0 (the default): greedy, the argmax at each step; above 0 the logits are divided by it and sampled.</param>
    /// <param name="topK">When sampling, only the k most likely tokens.</param>
    /// <param name="topP">When sampling, only the most likely tokens whose probabilities first reach p (nucleus sampling).</param>
    /// <param name="seed">Seed of the sampler (a run with the same seed draws the same tokens); null: random.</param>
    /// <param name="hooks">Hooks active at every step.</param>
    /// <param name="stopAtEos">Stop after generating <see cref="EosTokenId"/> (when the model has one).</param>
    /// <remarks>Ids the model's tokenizer does not define (the padding rows of a padded vocabulary, e.g. Qwen2's) are
    /// never generated: they have no text. Hugging Face would emit one whenever its logit wins, and its decode then
    /// drops it silently.</remarks>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Usage"/>) for an out-of-range setting;
    /// (<see cref="ExitCode.Input"/>) for an empty prompt or one that with the new tokens exceeds the model's context.</exception>
    public int[] Generate(int[] prompt, int maxNewTokens, float temperature = 0, int? topK = null, float? topP = null, int? seed = null,
        HookSet? hooks = null, bool stopAtEos = true, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        Sampler.Check(maxNewTokens, temperature, topK, topP);
        if (prompt.Length == 0) throw SharpLensException.Input("empty prompt: nothing to continue");
        Config.CheckPromptLength(prompt.Length + maxNewTokens, "prompt with the tokens to generate");
        hooks ??= new HookSet();
        var sampler = new Sampler(temperature, topK, topP, seed);
        int? eos = stopAtEos ? EosTokenIdOrNull() : null;
        int[] undefined = UndefinedTokenIds();
        var tokens = new List<int>(prompt);
        if (maxNewTokens == 0) return [.. tokens];

        int kvRow = Config.NKvHeads * Config.DHead, capacity = prompt.Length + maxNewTokens;
        var rotK = Enumerable.Range(0, Config.NLayers).Select(_ => new float[capacity * kvRow]).ToArray();
        var v = Enumerable.Range(0, Config.NLayers).Select(_ => new float[capacity * kvRow]).ToArray();
        var kvNames = HookNames.Layers.SelectMany(l => new[] { l.AttnKeys, l.V }).ToHashSet(StringComparer.Ordinal);
        for (int step = 0; step < maxNewTokens; step++)
        {
            ct.ThrowIfCancellationRequested();
            int T = tokens.Count, q0 = step == 0 ? 0 : T - 1;
            var r = Forward([tokens.ToArray()], new RunOptions
            {
                Hooks = hooks,
                CacheFilter = kvNames.Contains,
                Logits = LogitsMode.Last,
                QStart = q0,
                Prefix = q0 == 0 ? null : new KvPrefix { Length = q0, RotK = rotK, V = v },
                Cancellation = ct,
            });
            // Keep this step's keys and values (positions q0…T−1) for the next steps.
            for (int l = 0; l < Config.NLayers; l++)
            {
                r.Cache[HookNames.Layers[l].AttnKeys].Data.CopyTo(rotK[l].AsSpan(q0 * kvRow));
                r.Cache[HookNames.Layers[l].V].Data.CopyTo(v[l].AsSpan(q0 * kvRow));
            }
            var logits = r.Logits!.Data;
            foreach (int id in undefined) logits[id] = float.NegativeInfinity;
            int next = sampler.Next(logits);
            tokens.Add(next);
            if (next == eos) break;
        }
        return [.. tokens];
    }

    /// <summary>The prompt text followed by the generated text (TransformerLens' <c>generate</c> on a string).</summary>
    public string Generate(string prompt, int maxNewTokens, float temperature = 0, int? topK = null, float? topP = null, int? seed = null,
        HookSet? hooks = null, bool stopAtEos = true, bool? prependBos = null, CancellationToken ct = default)
    {
        var ids = ToTokens(prompt, prependBos);
        var all = Generate(ids, maxNewTokens, temperature, topK, topP, seed, hooks, stopAtEos, ct);
        return prompt + Decode(all.Skip(ids.Length));
    }

    /// <summary>The logit rows no token of the tokenizer owns (none for a model loaded without tokenizer files).</summary>
    int[] UndefinedTokenIds()
    {
        HfTokenizer tokenizer;
        try { tokenizer = Tokenizer; }
        catch (SharpLensException) { return []; }
        return Enumerable.Range(0, Config.VocabSize).Where(id => !tokenizer.IsDefined(id)).ToArray();
    }

    /// <summary>EOS when a tokenizer or config names one (a model loaded without tokenizer files has none).</summary>
    int? EosTokenIdOrNull()
    {
        try { return EosTokenId; }
        catch (SharpLensException) { return null; }
    }
}

/// <summary>Picks each generated token: greedy at temperature 0, else temperature, top-k, then top-p, then a draw.</summary>
internal sealed class Sampler(float temperature, int? topK, float? topP, int? seed)
{
    readonly Random _rng = seed is { } s ? new Random(s) : new Random();

    public static void Check(int maxNewTokens, float temperature, int? topK, float? topP)
    {
        if (maxNewTokens < 0) throw SharpLensException.Usage($"the number of new tokens must be 0 or more, got {maxNewTokens}");
        if (!(temperature >= 0) || float.IsInfinity(temperature)) throw SharpLensException.Usage($"the temperature must be a finite number ≥ 0, got {temperature}");
        if (topK is < 1) throw SharpLensException.Usage($"top-k must be at least 1, got {topK}");
        if (topP is { } p && !(p > 0 && p <= 1)) throw SharpLensException.Usage($"top-p must be in (0, 1], got {p}");
    }

    public int Next(ReadOnlySpan<float> logits)
    {
        if (temperature == 0) return ArgMax(logits);
        // Candidates in descending order of logit (ties: lower id first), scaled by the temperature.
        var order = Enumerable.Range(0, logits.Length).ToArray();
        var keys = logits.ToArray();
        Array.Sort(order, (a, b) => keys[b].CompareTo(keys[a]) is var c && c != 0 ? c : a.CompareTo(b));
        int keep = Math.Min(topK ?? order.Length, order.Length);
        double max = keys[order[0]] / (double)temperature;
        var probs = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++) sum += probs[i] = Math.Exp(keys[order[i]] / (double)temperature - max);
        for (int i = 0; i < keep; i++) probs[i] /= sum;
        if (topP is { } p)
        {
            // The smallest prefix whose probability reaches p (the token that crosses it is kept), renormalised.
            double cum = 0; int n = 0;
            while (n < keep && cum < p) cum += probs[n++];
            keep = Math.Max(n, 1);
            sum = probs.AsSpan(0, keep).ToArray().Sum();
            for (int i = 0; i < keep; i++) probs[i] /= sum;
        }
        double u = _rng.NextDouble(), acc = 0;
        for (int i = 0; i < keep; i++)
        {
            acc += probs[i];
            if (u < acc) return order[i];
        }
        return order[keep - 1];
    }

    internal static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
