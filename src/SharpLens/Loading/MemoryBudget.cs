using System.Globalization;

namespace SharpLens.Loading;

/// <summary>
/// The memory check done before a model is loaded: what the model will need (mapped weights, the activation arena
/// and cached activations for the prompt length, and a margin) against what the machine has available
/// (<c>MemAvailable</c> of <c>/proc/meminfo</c>, or the <c>SHARPLENS_MEMORY_LIMIT</c> environment variable in bytes).
/// Refusing up front with both numbers beats being killed by the out-of-memory killer half-way through a study.
/// </summary>
public static class MemoryBudget
{
    /// <summary>Environment variable that overrides the available memory (bytes); used by tests and for capping.</summary>
    public const string LimitVariable = "SHARPLENS_MEMORY_LIMIT";

    /// <summary>Fixed headroom for the runtime (JIT, libraries, thread stacks) and the managed heap's slack; measured:
    /// the 3.7 MB demo model peaks near 100 MB resident.</summary>
    public const long FixedMarginBytes = 96L << 20;

    /// <summary>The tokenizer's vocabulary and merges in managed memory, per vocabulary entry (measured on Qwen's
    /// 151,936 entries: ~90 MB).</summary>
    public const long TokenizerBytesPerEntry = 640;

    /// <summary>
    /// Bytes a model needs for runs of <paramref name="batch"/> prompts of <paramref name="tokens"/> tokens, with
    /// <paramref name="cachedRuns"/> cached runs kept alive at once (a study keeps its clean and corrupted runs; a plain
    /// run keeps none): weights + forward-pass arena + caches (plus 10 % of those), <see cref="FixedMarginBytes"/> and the tokenizer.
    /// </summary>
    public static long Estimate(ModelConfig c, long weightBytes, int tokens, int batch = 2, int cachedRuns = 2)
    {
        long T = Math.Max(tokens, 1), B = Math.Max(batch, 1), L = c.NLayers, H = c.NHeads;
        long d = c.DModel, q = (long)c.NHeads * c.DHead, kv = (long)c.NKvHeads * c.DHead, f = c.DMlp, v = c.VocabSize;
        // forward pass: residual, normed, q/k/v, attention scores, z, outputs, MLP gate/up/post, logits of every position
        long arenaFloats = B * T * (6 * d + 2 * q + 2 * kv + 3 * f + v) + 2 * B * H * T * T;
        // one cached run: per layer the residual-sized hooks, q/k/v/z, per-head results, pattern and scores, MLP hooks; logits
        long cacheFloats = L * T * (6 * d + 2 * q + 2 * kv + H * d + 3 * f + 2 * H * T) + T * v;
        long activations = 4 * (arenaFloats + Math.Max(cachedRuns, 0) * cacheFloats);
        // the mapped weights are exactly their size; the 10 % covers the activations' allocator slack
        return weightBytes + activations + activations / 10 + FixedMarginBytes + TokenizerBytesPerEntry * v;
    }

    /// <summary>
    /// Bytes available to this process: <see cref="LimitVariable"/> when set, else <c>MemAvailable</c> from
    /// <c>/proc/meminfo</c>; null when neither can be read (then no check is made).
    /// </summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Usage"/>) when the variable is set but is not a number of bytes.</exception>
    public static long? Available()
    {
        string? limit = Environment.GetEnvironmentVariable(LimitVariable);
        if (!string.IsNullOrWhiteSpace(limit))
        {
            if (!long.TryParse(limit.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long bytes))
                throw SharpLensException.Usage($"{LimitVariable}={limit} is not a number of bytes (e.g. {LimitVariable}=8000000000)");
            return bytes;
        }
        try { return File.Exists("/proc/meminfo") ? ParseMemAvailable(File.ReadAllText("/proc/meminfo")) : null; }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>The <c>MemAvailable</c> line of a <c>/proc/meminfo</c> text, in bytes; null when absent.</summary>
    public static long? ParseMemAvailable(string meminfo)
    {
        foreach (var line in meminfo.Split('\n'))
        {
            if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal)) continue;
            var parts = line["MemAvailable:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 1 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long kb))
                return parts.Length >= 2 && parts[1] == "kB" ? kb * 1024 : kb;
        }
        return null;
    }

    /// <summary>Throws when <paramref name="needed"/> exceeds <paramref name="available"/> (no check when the latter is null).</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Memory"/>) naming both figures and what to do.</exception>
    public static void Ensure(long needed, long? available, string what)
    {
        if (available is not { } have || needed <= have) return;
        string source = Environment.GetEnvironmentVariable(LimitVariable) is { Length: > 0 } ? $"{LimitVariable}" : "MemAvailable in /proc/meminfo";
        throw new SharpLensException(ExitCode.Memory,
            $"not enough memory for {what}: it needs about {Format(needed)} but only {Format(have)} is available ({source}); " +
            "close other programs, use shorter prompts or a smaller model");
    }

    /// <summary>Estimates what <paramref name="config"/> needs (see <see cref="Estimate"/>) and checks it against <see cref="Available"/>.</summary>
    public static void Ensure(ModelConfig config, long weightBytes, int tokens, int cachedRuns, string modelDir) =>
        Ensure(Estimate(config, weightBytes, tokens, cachedRuns: cachedRuns), Available(), $"{modelDir} with {tokens}-token prompts");

    /// <summary>A byte count for people: "3.71 GB (3712345678 bytes)".</summary>
    public static string Format(long bytes) => bytes >= 1L << 30
        ? $"{bytes / 1e9:0.00} GB ({bytes} bytes)"
        : $"{bytes / 1e6:0.0} MB ({bytes} bytes)";
}
