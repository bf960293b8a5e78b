namespace SharpLens.Model;

/// <summary>
/// What a hook sees: one batch item's activation at one hook point, which it may read or overwrite in place.
/// <see cref="Shape"/> is the per-prompt shape of EXPERIMENTS.md; when a run recomputes only the positions from
/// <see cref="PosOffset"/> on (a sweep that reuses a cached prefix), the position axis starts there.
/// </summary>
public readonly ref struct HookContext(string name, int batch, Span<float> data, int[] shape, int posOffset)
{
    public string Name { get; } = name;
    public int Batch { get; } = batch;
    public Span<float> Data { get; } = data;
    public int[] Shape { get; } = shape;
    /// <summary>Absolute position of index 0 along the position axis (q_pos for attention scores/pattern).</summary>
    public int PosOffset { get; } = posOffset;
}

/// <summary>A hook callback; called once per batch item.</summary>
public delegate void HookFn(HookContext ctx);

/// <summary>Hooks by name, several per point allowed (run in the order added).</summary>
public sealed class HookSet
{
    readonly Dictionary<string, List<HookFn>> _hooks = new();

    /// <summary>A new empty set (a new one each time: a shared instance could be filled by one caller for all).</summary>
    public static HookSet Empty => new();

    public HookSet Add(string name, HookFn fn)
    {
        if (!_hooks.TryGetValue(name, out var list)) _hooks[name] = list = [];
        list.Add(fn);
        return this;
    }

    public bool Has(string name) => _hooks.ContainsKey(name);
    public IEnumerable<string> Names => _hooks.Keys;

    internal void Fire(string name, int batch, Span<float> data, int[] shape, int posOffset)
    {
        if (!_hooks.TryGetValue(name, out var list)) return;
        foreach (var fn in list) fn(new HookContext(name, batch, data, shape, posOffset));
    }
}

/// <summary>Cached activations of a run: name → tensor of shape [batch, ...per-prompt shape].</summary>
public sealed class ActivationCache
{
    readonly Dictionary<string, Tensor> _acts = new();

    public Tensor this[string name] => _acts.TryGetValue(name, out var t) ? t
        : throw new KeyNotFoundException($"activation {name} was not cached (check the name and the cache filter)");

    public bool Contains(string name) => _acts.ContainsKey(name);
    public IEnumerable<string> Names => _acts.Keys;
    internal void Set(string name, Tensor t) => _acts[name] = t;
}
