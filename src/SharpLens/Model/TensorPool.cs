namespace SharpLens.Model;

/// <summary>
/// fp32 arrays kept between runs of one model, by exact length: the activations a gradient run caches, the hook
/// gradients it returns and the backward's working buffers. A run takes its arrays here and a disposed
/// <see cref="GradientResult"/> or <see cref="ActivationCache"/> gives them back, so a loop of gradient runs reuses the
/// same memory instead of asking the runtime for ~200 MB of fresh pages each time.
/// </summary>
/// <remarks>
/// Why not the GC: a freed large array's pages go back to the operating system and every new one faults its pages in
/// again. On the 1.8B-shaped checkpoint that fresh memory cost ~0.5 s of a 1.4 s forward + backward, on a virtual machine
/// where a page fault takes ~10 µs (docs/benchmarks.md). Arrays come back uninitialised: callers write every element or
/// ask for <see cref="RentZeroed"/>. Thread-safe; what is held is bounded by <see cref="MaxBytes"/>: an array given back
/// past it evicts arrays of other lengths first (a loop over prompts of changing lengths keeps the newest), and one larger
/// than the bound is left to the GC.
/// </remarks>
internal sealed class TensorPool
{
    /// <summary>Arrays shorter than this (one 4 KB page) are left to the GC: they share pages, and cost little.</summary>
    internal const int MinLength = 1024;

    readonly Dictionary<int, Stack<float[]>> _free = new();
    readonly HashSet<float[]> _held = new(ReferenceEqualityComparer.Instance);   // a second Return of one array is ignored
    long _bytes;

    /// <summary>The most bytes held for reuse at once (512 MB: a 1.8B model's 25-token gradient run takes ~300 MB).</summary>
    public long MaxBytes { get; init; } = 512L << 20;

    /// <summary>Tests: fill every array given back with NaN, so that a reader of memory it did not write sees it.</summary>
    internal bool PoisonReturned { get; set; }

    /// <summary>Bytes held for reuse now.</summary>
    public long Bytes { get { lock (_free) return _bytes; } }

    /// <summary>An array of exactly <paramref name="length"/> floats, whose contents are whatever its last user left.</summary>
    public float[] Rent(int length)
    {
        if (length >= MinLength)
            lock (_free)
                if (_free.TryGetValue(length, out var stack) && stack.Count > 0)
                {
                    _bytes -= (long)length * sizeof(float);
                    var a = stack.Pop();
                    _held.Remove(a);
                    return a;
                }
        return GC.AllocateUninitializedArray<float>(length);
    }

    /// <summary><see cref="Rent"/>, cleared.</summary>
    public float[] RentZeroed(int length)
    {
        var a = Rent(length);
        Array.Clear(a);
        return a;
    }

    /// <summary>Takes <paramref name="array"/> back for reuse; nothing may read or write it afterwards.</summary>
    public void Return(float[]? array)
    {
        if (array == null || array.Length < MinLength) return;
        long size = (long)array.Length * sizeof(float);
        if (size > MaxBytes) return;
        lock (_free)
        {
            if (_held.Contains(array)) return;
            if (_bytes + size > MaxBytes)
                foreach (int length in _free.Keys.ToList())
                {
                    if (_bytes + size <= MaxBytes) break;
                    if (length == array.Length) continue;
                    foreach (var old in _free[length]) { _held.Remove(old); _bytes -= (long)old.Length * sizeof(float); }
                    _free.Remove(length);
                }
            if (_bytes + size > MaxBytes) return;
            if (PoisonReturned) array.AsSpan().Fill(float.NaN);
            _held.Add(array);
            if (!_free.TryGetValue(array.Length, out var stack)) _free[array.Length] = stack = new Stack<float[]>();
            stack.Push(array);
            _bytes += size;
        }
    }

    /// <summary>Drops every array held (the model's <c>Dispose</c>, and callers that want the memory back).</summary>
    public void Clear()
    {
        lock (_free) { _free.Clear(); _held.Clear(); _bytes = 0; }
    }
}
