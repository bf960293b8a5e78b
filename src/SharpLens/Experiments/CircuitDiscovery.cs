using System.Text.Json.Nodes;
using SharpLens.Model;
using SharpLens.Statistics;

namespace SharpLens.Experiments;

/// <summary>One clean/corrupted pair as token ids: equal lengths; <see cref="Answer"/> the clean answer, <see cref="Wrong"/>
/// the corrupted one (logit_diff = answer − wrong at the final position). <see cref="Line"/>: the dataset line, for
/// messages (0 when none).</summary>
public sealed record TokenPair(int[] Clean, int[] Corrupted, int Answer, int Wrong, int Line = 0);

/// <summary>What one pair's circuit run found: its baselines and the circuit's own logit difference.</summary>
public sealed record CircuitPairResult(int Line, double CleanLogitDiff, double CorruptedLogitDiff, double CircuitLogitDiff)
{
    /// <summary>(circuit − corrupted) / (clean − corrupted): 1 = the circuit alone keeps the clean behaviour, 0 = none of it.</summary>
    public double Faithfulness => (CircuitLogitDiff - CorruptedLogitDiff) / (CleanLogitDiff - CorruptedLogitDiff);
}

/// <summary>
/// A circuit found by edge attribution patching over a dataset: every edge's mean EAP (or EAP-IG) score, the top
/// <see cref="Requested"/> edges by absolute score, the <see cref="Circuit"/> they form once edges that cannot matter are
/// pruned (<see cref="EdgeGraph.Prune"/>), and its faithfulness by exact edge patching, pair by pair.
/// </summary>
public sealed record CircuitResult
{
    public required EdgeGraph Graph { get; init; }
    public required int IgSteps { get; init; }
    public required int Requested { get; init; }
    /// <summary>Mean score of every edge over the used pairs, indexed as <see cref="EdgeGraph.Edges"/> (logit-diff units).</summary>
    public required double[] Scores { get; init; }
    /// <summary>The top <see cref="Requested"/> edges by |score|, best first.</summary>
    public required IReadOnlyList<int> Top { get; init; }
    /// <summary>The pruned circuit, best first.</summary>
    public required IReadOnlyList<int> Circuit { get; init; }
    public required IReadOnlyList<CircuitPairResult> Pairs { get; init; }
    /// <summary>Pairs left out, with why (their baselines do not hold: clean ≤ 0 or corrupted ≥ 0).</summary>
    public required IReadOnlyList<(int Line, string Reason)> Excluded { get; init; }

    public double MeanFaithfulness => Pairs.Average(p => p.Faithfulness);
    /// <summary>Faithfulness of the mean logit differences: Σ(circuit − corrupted) / Σ(clean − corrupted).</summary>
    public double FaithfulnessOfMeans => Pairs.Sum(p => p.CircuitLogitDiff - p.CorruptedLogitDiff) / Pairs.Sum(p => p.CleanLogitDiff - p.CorruptedLogitDiff);

    /// <summary>The nodes the circuit touches, in graph order (input first, logits last).</summary>
    public IReadOnlyList<string> Nodes
    {
        get
        {
            var used = new HashSet<string>();
            foreach (int e in Circuit)
            {
                used.Add(Graph.Senders[Graph.Edges[e].Sender].Name);
                used.Add(Graph.Receivers[Graph.Edges[e].Receiver].NodeName(Graph.Grouped));
            }
            var order = Graph.Senders.Select(s => s.Name).Concat(Graph.Receivers.Select(r => r.NodeName(Graph.Grouped))).Distinct();
            return order.Where(used.Contains).ToList();
        }
    }

    JsonObject Edge(int e)
    {
        var (s, r) = Graph.Edges[e];
        var rec = Graph.Receivers[r];
        return new JsonObject
        {
            ["from"] = Graph.Senders[s].Name, ["to"] = rec.NodeName(Graph.Grouped), ["port"] = rec.PortName, ["score"] = Scores[e],
        };
    }

    /// <summary>Writes results.json's circuit keys: <c>method</c>, <c>ig_steps</c>, <c>graph</c> (sizes), <c>edges_requested</c>,
    /// <c>circuit</c> ({nodes, edges: [{from, to, port, score}] best first}), <c>top_edges</c> (before pruning),
    /// <c>edge_scores</c> (every edge as [from, to, port, score], by |score|, at most <paramref name="maxScores"/>),
    /// <c>faithfulness</c>, its <c>ci95</c> (seeded bootstrap), <c>faithfulness_of_means</c>, the mean baselines and
    /// <c>per_pair</c> lists, <c>n_used</c> and <c>excluded</c>.</summary>
    public void WriteTo(JsonObject o, int maxScores = 20_000)
    {
        o["method"] = IgSteps > 1 ? "eap-ig" : "eap";
        o["ig_steps"] = IgSteps;
        o["graph"] = new JsonObject
        {
            ["n_layers"] = Graph.Layers, ["n_heads"] = Graph.Heads, ["n_kv_heads"] = Graph.KvHeads, ["sequential"] = Graph.Sequential,
            ["n_senders"] = Graph.Senders.Count, ["n_receivers"] = Graph.Receivers.Count, ["n_edges"] = Graph.Edges.Count,
        };
        o["edges_requested"] = Requested;
        o["circuit"] = new JsonObject
        {
            ["nodes"] = new JsonArray(Nodes.Select(n => (JsonNode?)n).ToArray()),
            ["edges"] = new JsonArray(Circuit.Select(e => (JsonNode?)Edge(e)).ToArray()),
        };
        o["top_edges"] = new JsonArray(Top.Select(e => (JsonNode?)Edge(e)).ToArray());
        var ranked = RankByMagnitude(Scores).Take(maxScores);
        o["edge_scores"] = new JsonArray(ranked.Select(e =>
        {
            var (s, r) = Graph.Edges[e];
            var rec = Graph.Receivers[r];
            return (JsonNode?)new JsonArray(Graph.Senders[s].Name, rec.NodeName(Graph.Grouped), rec.PortName, Scores[e]);
        }).ToArray());
        o["edge_scores_truncated"] = Scores.Length > maxScores;
        o["n_used"] = Pairs.Count;
        o["excluded"] = new JsonArray(Excluded.Select(x => (JsonNode?)new JsonObject { ["line"] = x.Line, ["reason"] = x.Reason }).ToArray());
        o["clean_logit_diff"] = Pairs.Average(p => p.CleanLogitDiff);
        o["corrupted_logit_diff"] = Pairs.Average(p => p.CorruptedLogitDiff);
        o["circuit_logit_diff"] = Pairs.Average(p => p.CircuitLogitDiff);
        o["faithfulness"] = MeanFaithfulness;
        var boot = new Bootstrap();
        var (lo, hi) = boot.Ci95(Pairs.Select(p => p.Faithfulness).ToList());
        o["faithfulness_ci95"] = new JsonArray(lo, hi);
        o["bootstrap"] = new JsonObject { ["resamples"] = boot.Resamples, ["seed"] = boot.Seed };
        o["faithfulness_of_means"] = FaithfulnessOfMeans;
        JsonArray Row(Func<CircuitPairResult, double> f) => new(Pairs.Select(p => (JsonNode?)f(p)).ToArray());
        o["per_pair"] = new JsonObject
        {
            ["line"] = new JsonArray(Pairs.Select(p => (JsonNode?)p.Line).ToArray()),
            ["clean_logit_diff"] = Row(p => p.CleanLogitDiff), ["corrupted_logit_diff"] = Row(p => p.CorruptedLogitDiff),
            ["circuit_logit_diff"] = Row(p => p.CircuitLogitDiff), ["faithfulness"] = Row(p => p.Faithfulness),
        };
    }

    /// <summary>Edge indices by descending |score| (ties: graph order).</summary>
    public static IEnumerable<int> RankByMagnitude(double[] scores) =>
        Enumerable.Range(0, scores.Length).OrderByDescending(e => Math.Abs(scores[e])).ThenBy(e => e);
}

/// <summary><c>sharplens circuit</c> as a library: EAP over a dataset, the top-K circuit, its faithfulness.</summary>
public static class CircuitDiscovery
{
    /// <summary>Checks K against the graph: a usage error naming the valid range.</summary>
    public static void ValidateEdges(EdgeGraph graph, int edges)
    {
        if (edges < 1 || edges > graph.Edges.Count)
            throw SharpLensException.Usage($"--edges must be between 1 and {graph.Edges.Count:N0} (the number of edges of this model's graph), not {edges}");
    }

    /// <summary>
    /// Scores every edge on each pair whose baselines hold (clean logit diff &gt; 0, corrupted &lt; 0; others are listed in
    /// <see cref="CircuitResult.Excluded"/>), averages the scores, takes the top <paramref name="edges"/> by |score|,
    /// prunes them to a circuit and measures its faithfulness on every used pair by exact edge patching.
    /// </summary>
    /// <param name="progress">(phase, done, total)</param>
    /// <exception cref="SharpLensException">(Input) when no pair's baselines hold.</exception>
    public static CircuitResult Run(HookedTransformer model, IReadOnlyList<TokenPair> pairs, int edges, int igSteps = 1,
        Action<string, int, int>? progress = null, CancellationToken ct = default)
    {
        var graph = EdgeGraph.Of(model.Config);
        ValidateEdges(graph, edges);
        var sum = new double[graph.Edges.Count];
        var used = new List<(TokenPair Pair, double Clean, double Corrupted)>();
        var excluded = new List<(int, string)>();
        string phase = igSteps > 1 ? $"edge attribution patching (EAP-IG, {igSteps} steps)" : "edge attribution patching (EAP)";
        for (int i = 0; i < pairs.Count; i++)
        {
            progress?.Invoke(phase, i, pairs.Count);
            var p = pairs[i];
            var (scores, clean, corrupted) = EdgeAttribution.Score(model, graph, p.Clean, p.Corrupted, p.Answer, p.Wrong, igSteps, ct);
            if (!(clean > 0) || !(corrupted < 0))
            {
                excluded.Add((p.Line, !(clean > 0) ? FormattableString.Invariant($"the clean logit diff is {clean:0.###} (not above 0)")
                    : FormattableString.Invariant($"the corrupted logit diff is {corrupted:0.###} (not below 0)")));
                continue;
            }
            used.Add((p, clean, corrupted));
            for (int e = 0; e < sum.Length; e++) sum[e] += scores[e];
        }
        progress?.Invoke(phase, pairs.Count, pairs.Count);
        if (used.Count == 0)
            throw SharpLensException.Input($"no pair's baselines hold (clean logit diff > 0 and corrupted < 0) among the {pairs.Count} pairs: there is no behaviour for a circuit to explain");
        var mean = sum.Select(s => s / used.Count).ToArray();
        var top = CircuitResult.RankByMagnitude(mean).Take(edges).ToList();
        var rank = top.Select((e, i) => (e, i)).ToDictionary(x => x.e, x => x.i);
        var circuit = graph.Prune(top).OrderBy(e => rank[e]).ToList();

        const string faith = "faithfulness (exact edge patching)";
        var results = new List<CircuitPairResult>();
        for (int i = 0; i < used.Count; i++)
        {
            progress?.Invoke(faith, i, used.Count);
            var (p, clean, corrupted) = used[i];
            double ld = CircuitPatching.LogitDiff(model, graph, circuit, p.Clean, p.Corrupted, p.Answer, p.Wrong, ct);
            results.Add(new CircuitPairResult(p.Line, clean, corrupted, ld));
        }
        progress?.Invoke(faith, used.Count, used.Count);
        return new CircuitResult
        {
            Graph = graph, IgSteps = igSteps, Requested = edges, Scores = mean, Top = top, Circuit = circuit, Pairs = results, Excluded = excluded,
        };
    }
}
