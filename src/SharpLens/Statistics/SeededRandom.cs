namespace SharpLens.Statistics;

/// <summary>
/// A small, fully specified pseudo-random generator — xoshiro256** (Blackman &amp; Vigna) seeded through SplitMix64 —
/// so that dataset generators and bootstrap resamples give the same draws for the same seed on every machine and
/// every .NET version (<see cref="System.Random"/> promises neither).
/// </summary>
public sealed class SeededRandom
{
    ulong _s0, _s1, _s2, _s3;

    /// <summary>A generator whose whole stream is fixed by <paramref name="seed"/>.</summary>
    public SeededRandom(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
    }

    /// <summary>A generator for a signed seed (its two's-complement bits).</summary>
    public SeededRandom(long seed) : this(unchecked((ulong)seed)) { }

    static ulong SplitMix(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>A uniform integer in [0, <paramref name="bound"/>), without modulo bias (Lemire's multiply-and-reject).</summary>
    public int NextInt(int bound)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bound);
        ulong b = (ulong)bound;
        UInt128 m = (UInt128)NextUInt64() * b;
        if ((ulong)m < b)
        {
            ulong threshold = (0UL - b) % b;   // 2^64 mod b: the low words below it would over-represent some results
            while ((ulong)m < threshold) m = (UInt128)NextUInt64() * b;
        }
        return (int)(ulong)(m >> 64);
    }

    /// <summary>One element of <paramref name="items"/>, uniformly.</summary>
    public T Choose<T>(IReadOnlyList<T> items) => items[NextInt(items.Count)];

    /// <summary><paramref name="k"/> distinct elements of <paramref name="items"/> in random order (a partial Fisher–Yates
    /// shuffle of a copy), as Python's <c>random.sample</c> returns them.</summary>
    public T[] Sample<T>(IReadOnlyList<T> items, int k)
    {
        if (k < 0 || k > items.Count) throw new ArgumentOutOfRangeException(nameof(k), $"cannot sample {k} of {items.Count}");
        var pool = items.ToArray();
        for (int i = 0; i < k; i++)
        {
            int j = i + NextInt(pool.Length - i);
            (pool[i], pool[j]) = (pool[j], pool[i]);
        }
        return pool[..k];
    }
}
