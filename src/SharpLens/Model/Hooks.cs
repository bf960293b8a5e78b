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

/// <summary>
/// What a <see cref="TensorHook"/> is told about its hook point: the name, the block it belongs to (−1 for
/// <c>hook_embed</c>, <see cref="int.MaxValue"/> after the blocks), and the absolute position of index 0 along the
/// position axis (0 unless a run recomputes only later positions: generation steps, sweeps).
/// </summary>
public sealed record HookPoint(string Name, int PosOffset)
{
    public int Layer => Experiments.Intervention.LayerOf(Name);
}

/// <summary>A hook that sees the whole batch's activation as a tensor [batch, ...per-prompt shape] and may change it in
/// place (see <see cref="TensorView"/> for one-line slice writes), TransformerLens' <c>hook(value, hook)</c>.</summary>
public delegate void TensorHook(Tensor activation, HookPoint hook);

/// <summary>Hooks by name, several per point allowed (run in the order added). The names are checked against the model
/// when a run starts: an unknown one fails the run (<see cref="UnknownHookException"/>).</summary>
public sealed partial class HookSet
{
    readonly Dictionary<string, List<Delegate>> _hooks = new();

    /// <summary>A new empty set (a new one each time: a shared instance could be filled by one caller for all).</summary>
    public static HookSet Empty => new();

    /// <summary>A hook called once per batch item with that item's activation as a span.</summary>
    public HookSet Add(string name, HookFn fn) => AddEntry(name, fn);

    /// <summary>A hook called once per run with the whole batch's activation as a tensor [batch, ...].</summary>
    public HookSet Add(string name, TensorHook fn) => AddEntry(name, fn);

    HookSet AddEntry(string name, Delegate fn)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(fn);
        if (!_hooks.TryGetValue(name, out var list)) _hooks[name] = list = [];
        list.Add(fn);
        return this;
    }

    readonly List<(Func<string, bool> Filter, TensorHook Fn)> _filtered = [];

    /// <summary>A tensor hook on every hook point whose name passes <paramref name="filter"/> (TransformerLens' hooks by
    /// filter, e.g. <c>name =&gt; name.EndsWith("hook_z")</c>). A filter names nothing, so nothing is checked.</summary>
    public HookSet Add(Func<string, bool> filter, TensorHook fn)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentNullException.ThrowIfNull(fn);
        _filtered.Add((filter, fn));
        return this;
    }

    public bool Has(string name) => _hooks.ContainsKey(name) || _filtered.Exists(f => f.Filter(name));
    /// <summary>The names hooks were added under (not those reached through a filter).</summary>
    public IEnumerable<string> Names => _hooks.Keys;

    /// <summary>Runs the hooks of <paramref name="name"/> on a batch buffer [batch, ...shape], in the order they were added.</summary>
    internal void Fire(string name, Span<float> data, int batch, int[] shape, int posOffset)
    {
        IEnumerable<Delegate> list = _hooks.TryGetValue(name, out var named) ? named : [];
        if (_filtered.Count > 0) list = list.Concat(_filtered.Where(f => f.Filter(name)).Select(f => (Delegate)f.Fn));
        int per = data.Length / batch;
        foreach (var fn in list)
        {
            if (fn is HookFn item)
                for (int b = 0; b < batch; b++) item(new HookContext(name, b, data.Slice(b * per, per), shape, posOffset));
            else
            {
                // A copy in and out: the run's buffer is a slice of a larger arena array, and a hook may keep the tensor.
                var t = new Tensor(data.ToArray(), [batch, .. shape]);
                ((TensorHook)fn)(t, new HookPoint(name, posOffset));
                t.Data.CopyTo(data);
            }
        }
    }
}

/// <summary>
/// Cached activations of a run: name → tensor of shape [batch, ...per-prompt shape]. Disposing a cache is optional: it
/// hands the arrays its run allocated back to the model for the next run to reuse (worth it in loops of gradient runs),
/// after which the cache is empty and its tensors must not be used.
/// </summary>
public sealed partial class ActivationCache : IDisposable
{
    readonly Dictionary<string, Tensor> _acts = new();
    /// <summary>The pool this cache's own arrays (those a run stored with <see cref="SetOwned"/>) go back to.</summary>
    TensorPool? _pool;
    readonly HashSet<float[]> _owned = new(ReferenceEqualityComparer.Instance);
    bool _disposed;

    public Tensor this[string name] => _acts.TryGetValue(name, out var t) ? t
        : throw new KeyNotFoundException(_disposed ? $"activation {name} was read after its cache was disposed"
            : $"activation {name} was not cached (check the name and the cache filter)");

    public bool Contains(string name) => _acts.ContainsKey(name);
    public IEnumerable<string> Names => _acts.Keys;
    /// <summary>The run's batch layout: each prompt's length, rows and attention mask (<see cref="PromptBatch.Positions"/>
    /// reads one prompt's rows of an activation). Null for a cache not made by a run.</summary>
    public PromptBatch? Batch { get; internal set; }
    internal void Set(string name, Tensor t) => _acts[name] = t;

    /// <summary>Stores a tensor whose array came from <paramref name="pool"/>: <see cref="Dispose"/> gives it back.</summary>
    internal void SetOwned(string name, Tensor t, TensorPool pool)
    {
        _pool = pool;
        _owned.Add(t.Data);
        _acts[name] = t;
    }

    /// <summary>Moves <paramref name="name"/> (and the ownership of its array) into <paramref name="to"/>.</summary>
    internal void MoveTo(string name, ActivationCache to)
    {
        var t = _acts[name];
        _acts.Remove(name);
        if (_pool != null && _owned.Remove(t.Data)) to.SetOwned(name, t, _pool);
        else to.Set(name, t);
    }

    /// <summary>Gives the arrays this cache's run allocated back for reuse and empties the cache.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var a in _owned) _pool!.Return(a);
        _owned.Clear();
        _acts.Clear();
    }
}
