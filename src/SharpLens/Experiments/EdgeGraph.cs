using SharpLens.Loading;

namespace SharpLens.Experiments;

/// <summary>What kind of component a node of the <see cref="EdgeGraph"/> is.</summary>
public enum NodeKind { Input, Head, Mlp, Logits }

/// <summary>Which input of a downstream node an edge enters (TransformerLens' split inputs: <c>hook_q_input</c>,
/// <c>hook_k_input</c>, <c>hook_v_input</c> per head, <c>hook_mlp_in</c>, and the final residual stream for the logits).</summary>
public enum Port { Q, K, V, Mlp, Logits }

/// <summary>A node that writes into the residual stream: the embedding (<c>hook_embed</c>, plus <c>hook_pos_embed</c>
/// where the model has learned positions), one attention head (its <c>hook_result</c>: <c>hook_z · W_O</c> of that head,
/// no bias) or one MLP (<c>hook_mlp_out</c>).</summary>
public readonly record struct Sender(NodeKind Kind, int Layer, int Head)
{
    /// <summary>ACDC / EAP names: <c>input</c>, <c>a{L}.h{H}</c>, <c>m{L}</c>.</summary>
    public string Name => Kind switch
    {
        NodeKind.Input => "input",
        NodeKind.Head => $"a{Layer}.h{Head}",
        _ => $"m{Layer}",
    };
}

/// <summary>A node input that reads the residual stream: one query head's input (Q), one key/value head's key or value
/// input (K, V; with grouped-query attention a key/value head serves several query heads), one MLP's input or the
/// logits' (the final residual stream, before <c>ln_final</c>). <see cref="Index"/> is the head or key/value head
/// (−1 for MLP and logits).</summary>
public readonly record struct Receiver(Port Port, int Layer, int Index)
{
    /// <summary>The node the input belongs to: <c>a{L}.h{H}</c> (a key/value head of a grouped model: <c>a{L}.kv{G}</c>),
    /// <c>m{L}</c> or <c>logits</c>.</summary>
    public string NodeName(bool grouped) => Port switch
    {
        Port.Q => $"a{Layer}.h{Index}",
        Port.K or Port.V => grouped ? $"a{Layer}.kv{Index}" : $"a{Layer}.h{Index}",
        Port.Mlp => $"m{Layer}",
        _ => "logits",
    };

    /// <summary>The port's name as EAP writes edges: <c>q</c>, <c>k</c>, <c>v</c>, or empty for an MLP or the logits.</summary>
    public string PortName => Port switch { Port.Q => "q", Port.K => "k", Port.V => "v", _ => "" };
}

/// <summary>
/// The computational graph of edge attribution patching (Syed et al. 2023) and ACDC (Conmy et al. 2023): the residual
/// stream is a sum of what every earlier node wrote, so every sender (embedding, head, MLP) connects to every receiver
/// that reads the stream after it — a head's query, key and value inputs separately, an MLP's input, the logits. A head
/// writes after the heads and (sequential blocks) before the MLP of its own layer; with a parallel residual
/// (GPT-NeoX) the MLP reads the block's input, so heads reach only later layers. Senders are ordered input, then per layer
/// its heads and its MLP; receivers per layer its query heads, key heads, value heads and MLP, then the logits.
/// </summary>
public sealed class EdgeGraph
{
    public int Layers { get; }
    public int Heads { get; }
    public int KvHeads { get; }
    /// <summary>Whether a block's MLP reads its attention's output (false for a parallel residual).</summary>
    public bool Sequential { get; }
    public IReadOnlyList<Sender> Senders { get; }
    public IReadOnlyList<Receiver> Receivers { get; }
    /// <summary>Every (sender, receiver) index pair the residual stream connects, in sender-major order.</summary>
    public IReadOnlyList<(int Sender, int Receiver)> Edges { get; }
    readonly Dictionary<(int, int), int> _edgeIndex = new();

    public EdgeGraph(int layers, int heads, int kvHeads, bool sequential)
    {
        Layers = layers; Heads = heads; KvHeads = kvHeads; Sequential = sequential;
        var senders = new List<Sender> { new(NodeKind.Input, -1, -1) };
        var receivers = new List<Receiver>();
        for (int l = 0; l < layers; l++)
        {
            for (int h = 0; h < heads; h++) senders.Add(new(NodeKind.Head, l, h));
            senders.Add(new(NodeKind.Mlp, l, -1));
            for (int h = 0; h < heads; h++) receivers.Add(new(Port.Q, l, h));
            for (int g = 0; g < kvHeads; g++) receivers.Add(new(Port.K, l, g));
            for (int g = 0; g < kvHeads; g++) receivers.Add(new(Port.V, l, g));
            receivers.Add(new(Port.Mlp, l, -1));
        }
        receivers.Add(new(Port.Logits, layers, -1));
        Senders = senders; Receivers = receivers;
        var edges = new List<(int, int)>();
        for (int s = 0; s < senders.Count; s++)
            for (int r = 0; r < receivers.Count; r++)
                if (Connects(senders[s], receivers[r])) { _edgeIndex[(s, r)] = edges.Count; edges.Add((s, r)); }
        Edges = edges;
    }

    /// <summary>The graph of a model's configuration.</summary>
    public static EdgeGraph Of(ModelConfig c) => new(c.NLayers, c.NHeads, c.NKvHeads, c.Design.Residual != ResidualKind.Parallel);

    /// <summary>Whether <paramref name="s"/> writes into the residual stream before <paramref name="r"/> reads it.</summary>
    public bool Connects(Sender s, Receiver r) => s.Kind switch
    {
        NodeKind.Input => true,
        NodeKind.Head => r.Layer > s.Layer || (Sequential && r.Port == Port.Mlp && r.Layer == s.Layer),
        _ => r.Layer > s.Layer,
    };

    /// <summary>Whether query and key/value heads differ in number (key/value receivers are then named <c>a{L}.kv{G}</c>).</summary>
    public bool Grouped => KvHeads != Heads;

    /// <summary>The key/value head query head <paramref name="h"/> reads.</summary>
    public int KvHeadOf(int h) => h / (Heads / KvHeads);

    /// <summary>The edge's index in <see cref="Edges"/>, or −1 when the two are not connected.</summary>
    public int EdgeIndex(int sender, int receiver) => _edgeIndex.TryGetValue((sender, receiver), out int i) ? i : -1;

    /// <summary>The sender index of head (l, h), of MLP l, and of the input.</summary>
    public int HeadSender(int l, int h) => 1 + l * (Heads + 1) + h;
    public int MlpSender(int l) => 1 + l * (Heads + 1) + Heads;
    public const int InputSender = 0;

    /// <summary>The receiver index of a port.</summary>
    public int ReceiverIndex(Port port, int l, int index) => port switch
    {
        Port.Q => l * PerLayer + index,
        Port.K => l * PerLayer + Heads + index,
        Port.V => l * PerLayer + Heads + KvHeads + index,
        Port.Mlp => l * PerLayer + Heads + 2 * KvHeads,
        _ => Layers * PerLayer,
    };

    int PerLayer => Heads + 2 * KvHeads + 1;

    /// <summary>An edge as text: <c>a0.h1 → a2.h3&lt;k&gt;</c>.</summary>
    public string Describe(int edge)
    {
        var (s, r) = Edges[edge];
        var rec = Receivers[r];
        string port = rec.PortName.Length > 0 ? $"<{rec.PortName}>" : "";
        return $"{Senders[s].Name} → {rec.NodeName(Grouped)}{port}";
    }

    /// <summary>
    /// The circuit a set of edges forms, without the edges that cannot matter (as EAP's pruning of dead nodes): an edge
    /// is kept when its sender is reached from the input through kept edges and its receiver's node reaches the logits.
    /// A node no kept edge reaches computes exactly its corrupted-run output, and one that reaches no logit cannot change
    /// them, so the pruned circuit patches to the same logits as the edges given.
    /// </summary>
    public IReadOnlyList<int> Prune(IEnumerable<int> edges)
    {
        var chosen = edges.ToHashSet();
        var bySender = chosen.GroupBy(e => Edges[e].Sender).ToDictionary(g => g.Key, g => g.ToList());
        var byReceiver = chosen.GroupBy(e => Edges[e].Receiver).ToDictionary(g => g.Key, g => g.ToList());

        // Forward: a sender is reached when an edge from a reached sender enters one of its inputs.
        var reached = new bool[Senders.Count];
        reached[InputSender] = true;
        bool Fed(int receiver) => byReceiver.TryGetValue(receiver, out var list) && list.Any(e => reached[Edges[e].Sender]);
        for (int s = 1; s < Senders.Count; s++)
        {
            var n = Senders[s];
            reached[s] = n.Kind == NodeKind.Mlp
                ? Fed(ReceiverIndex(Port.Mlp, n.Layer, -1))
                : Fed(ReceiverIndex(Port.Q, n.Layer, n.Head)) || Fed(ReceiverIndex(Port.K, n.Layer, KvHeadOf(n.Head))) || Fed(ReceiverIndex(Port.V, n.Layer, KvHeadOf(n.Head)));
        }

        // Backward: a sender is useful when a kept edge leaves it for an input of a useful node (the logits always are).
        var useful = new bool[Senders.Count];
        bool ReceiverUseful(int r)
        {
            var rec = Receivers[r];
            return rec.Port switch
            {
                Port.Logits => true,
                Port.Mlp => useful[MlpSender(rec.Layer)],
                Port.Q => useful[HeadSender(rec.Layer, rec.Index)],
                _ => Enumerable.Range(0, Heads).Any(h => KvHeadOf(h) == rec.Index && useful[HeadSender(rec.Layer, h)]),
            };
        }
        for (int s = Senders.Count - 1; s >= 0; s--)
            useful[s] = bySender.TryGetValue(s, out var list) && list.Any(e => ReceiverUseful(Edges[e].Receiver));
        return chosen.Where(e => reached[Edges[e].Sender] && ReceiverUseful(Edges[e].Receiver)).Order().ToList();
    }
}
