using System.Text.Json.Nodes;
using SharpLens.Statistics;

namespace SharpLens.Tests.Datasets;

/// <summary>Aggregation of per-pair single-pair results, against values worked out by hand (in the comments).</summary>
public class AggregateTests
{
    // Three pairs of 4, 5 and 3 positions. Gaps (clean − corrupted): 4, 2, 2.
    static readonly string[][] Labels = [["a", "b", "b", "END"], ["a", "x", "b", "c", "END"], ["b", "a", "END"]];

    static JsonObject Pair(double clean, double corrupted, double[][] resid, double[] attnLast, int[] dlaTokens, int candidates) => new()
    {
        ["prompts"] = new JsonObject { ["clean"] = "c", ["corrupted"] = "k" },
        ["clean_logit_diff"] = clean,
        ["corrupted_logit_diff"] = corrupted,
        ["resid_pre_patch_recovery"] = new JsonArray(resid.Select(r => (JsonNode?)new JsonArray(r.Select(v => (JsonNode?)v).ToArray())).ToArray()),
        ["attn_out_patch_last_recovery"] = new JsonArray(attnLast.Select(v => (JsonNode?)v).ToArray()),
        ["dla_clean"] = new JsonObject
        {
            ["tokens"] = new JsonArray(dlaTokens.Select(t => (JsonNode?)t).ToArray()),
            ["embed"] = new JsonArray(1.0, 2.0 * clean),
        },
        ["dla_candidates_clean"] = new JsonObject { ["embed"] = new JsonArray(Enumerable.Range(0, candidates).Select(i => (JsonNode?)(double)i).ToArray()) },
        ["top_heads"] = new JsonArray(new JsonArray(0, 1)),
        ["head_pair_layer"] = 2,
        ["note"] = "text",
    };

    static readonly JsonObject[] Pairs =
    [
        Pair(3, -1, [[1, 2, 4, 8], [0, 0, 0, 1]], [0.5, 1], [11, 12], 4),
        Pair(2, 0, [[10, 20, 30, 40, 50], [1, 1, 1, 1, 2]], [0.25, 0], [13, 14], 5),
        Pair(1, -1, [[5, 6, 7], [3, 3, 3]], [1, -1], [15, 16], 4),
    ];

    static void Close(IEnumerable<double> expected, IEnumerable<double> actual, double tolerance = 1e-12)
    {
        var (e, a) = (expected.ToArray(), actual.ToArray());
        Assert.Equal(e.Length, a.Length);
        for (int i = 0; i < e.Length; i++) Assert.True(Math.Abs(e[i] - a[i]) <= tolerance, $"[{i}]: expected {e[i]}, got {a[i]}");
    }

    static double[][] Grid(JsonNode? n) => n!.AsArray().Select(r => r!.AsArray().Select(v => v!.GetValue<double>()).ToArray()).ToArray();

    [Fact]
    public void PositionKeysAggregateByLabelWhenEveryPairHasLabels()
    {
        var o = DatasetAggregate.Summarize(Pairs, Labels, new Bootstrap(200, 1));
        Assert.Equal("label", (string)o["position_aggregation"]!);
        Assert.Equal(["a", "b", "END"], o["labels"]!.AsArray().Select(x => (string)x!));   // x and c are not in every pair
        // a: 1, 10, 6; b: (2+4)/2 = 3, 30, 5; END: 8, 50, 7 — and the second layer 0,1,3 / 0,1,3 / 1,2,3.
        var mean = Grid(o["mean"]!["resid_pre_patch_recovery"]);
        Close([17 / 3.0, 38 / 3.0, 65 / 3.0], mean[0]);
        Close([4 / 3.0, 4 / 3.0, 2.0], mean[1]);
        // std of 1, 10, 6: Σ(x − 17/3)² = 366/9, / 2 → sqrt(183/9)
        Assert.Equal(Math.Sqrt(183 / 9.0), o["std"]!["resid_pre_patch_recovery"]![0]![0]!.GetValue<double>(), 12);
        // recovery of means, Σ rec·gap / Σ gap: a (1·4 + 10·2 + 6·2)/8 = 4.5; END (8·4 + 50·2 + 7·2)/8 = 18.25
        var rom = Grid(o["recovery_of_means"]!["resid_pre_patch_recovery"]);
        Assert.Equal(4.5, rom[0][0], 12);
        Assert.Equal(18.25, rom[0][2], 12);
    }

    [Fact]
    public void PositionKeysAggregateByOffsetWithoutLabels()
    {
        var o = DatasetAggregate.Summarize(Pairs, [Labels[0], null, Labels[2]], new Bootstrap(200, 1));
        Assert.Equal("offset", (string)o["position_aggregation"]!);
        Assert.Equal([-2, -1, 0], o["offsets"]!.AsArray().Select(x => (int)x!));
        // The last three positions: [2,4,8], [30,40,50], [5,6,7].
        Close([37 / 3.0, 50 / 3.0, 65 / 3.0], Grid(o["mean"]!["resid_pre_patch_recovery"])[0]);
        Assert.Equal("offset", (string)DatasetAggregate.Summarize(Pairs, null, new Bootstrap(10, 1))["position_aggregation"]!);
    }

    [Fact]
    public void OtherKeysKeepTheirShapeWithStatisticsAtEveryLeaf()
    {
        var boot = new Bootstrap(300, 4);
        var o = DatasetAggregate.Summarize(Pairs, Labels, boot);
        var mean = o["mean"]!["attn_out_patch_last_recovery"]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
        Close([1.75 / 3, 0], mean);
        // (0.5·4 + 0.25·2 + 1·2)/8 = 0.5625; (1·4 + 0·2 − 1·2)/8 = 0.25
        Close([0.5625, 0.25], o["recovery_of_means"]!["attn_out_patch_last_recovery"]!.AsArray().Select(v => v!.GetValue<double>()));
        // ci95 holds [low, high] at each leaf: the bootstrap of that leaf's column.
        var ci = o["ci95"]!["attn_out_patch_last_recovery"]!.AsArray();
        var expected = boot.Ci95([0.5, 0.25, 1.0]);
        Assert.Equal(expected.Low, ci[0]![0]!.GetValue<double>());
        Assert.Equal(expected.High, ci[0]![1]!.GetValue<double>());
        Assert.True(ci[0]![0]!.GetValue<double>() <= mean[0] && mean[0] <= ci[0]![1]!.GetValue<double>());
        // Objects keep their keys; token ids are not averaged.
        var dla = o["mean"]!["dla_clean"]!.AsObject();
        Assert.False(dla.ContainsKey("tokens"));
        Assert.Equal([1.0, 4.0], dla["embed"]!.AsArray().Select(v => v!.GetValue<double>()));     // 2·clean: 6, 4, 2
        Assert.Equal(2.0, o["mean"]!["clean_logit_diff"]!.GetValue<double>());
        Assert.Equal(300, (int)o["bootstrap"]!["resamples"]!);
        Assert.Equal(4, (long)o["bootstrap"]!["seed"]!);
        // Metadata and ids are left out; numeric keys that cannot be aggregated are named with the reason.
        foreach (var key in new[] { "top_heads", "head_pair_layer", "prompts" })
        {
            Assert.False(o["mean"]!.AsObject().ContainsKey(key));
            Assert.False(o["not_aggregated"]!.AsObject().ContainsKey(key));
        }
        Assert.Equal("its shape differs between pairs", (string)o["not_aggregated"]!["dla_candidates_clean"]!);
        // a string every pair shares is metadata, carried once; a non-numeric non-string is still "not numeric"
        Assert.Equal("text", (string)o["metadata"]!["note"]!);
        Assert.False(o["not_aggregated"]!.AsObject().ContainsKey("note"));
        Assert.False(o["recovery_of_means"]!.AsObject().ContainsKey("clean_logit_diff"));
    }

    [Fact]
    public void StringKeysAreMetadataNotNotAggregated()
    {
        JsonObject With(JsonObject p, string method, JsonNode? flag)
        {
            var c = p.DeepClone().AsObject();
            c["method"] = method;
            c["flags"] = flag;
            return c;
        }
        var pairs = new[] { With(Pairs[0], "exact", new JsonArray(true)), With(Pairs[1], "exact", new JsonArray(false)), With(Pairs[2], "atp", new JsonArray(true)) };
        var o = DatasetAggregate.Summarize(pairs, Labels, new Bootstrap(50, 1));
        // differing strings: the distinct values in pair order
        Assert.Equal(["exact", "atp"], o["metadata"]!["method"]!.AsArray().Select(v => (string)v!));
        Assert.Equal("text", (string)o["metadata"]!["note"]!);
        var skipped = o["not_aggregated"]!.AsObject();
        Assert.False(skipped.ContainsKey("method"));
        Assert.False(skipped.ContainsKey("note"));
        Assert.Equal("not numeric", (string)skipped["flags"]!);   // booleans are neither numbers nor metadata strings
        var same = DatasetAggregate.Summarize(pairs.Take(2).ToList(), null, new Bootstrap(50, 1));
        Assert.Equal("exact", (string)same["metadata"]!["method"]!);
    }

    [Fact]
    public void OnePairHasNoStdAndAPointInterval()
    {
        var o = DatasetAggregate.Summarize([Pairs[0]], [Labels[0]], new Bootstrap(20, 0));
        Assert.Null(o["std"]!["attn_out_patch_last_recovery"]![0]);
        Assert.Equal(0.5, o["ci95"]!["attn_out_patch_last_recovery"]![0]![0]!.GetValue<double>());
        Assert.Equal(0.5, o["ci95"]!["attn_out_patch_last_recovery"]![0]![1]!.GetValue<double>());
        Assert.Equal(0.5, o["recovery_of_means"]!["attn_out_patch_last_recovery"]![0]!.GetValue<double>(), 12);
        _ = o.ToJsonString();   // serialisable: no NaN anywhere
    }

    [Fact]
    public void PerPairListsEveryKeyInPairOrder()
    {
        var per = DatasetAggregate.PerPair(Pairs);
        Assert.Equal([3.0, 2.0, 1.0], per["clean_logit_diff"]!.AsArray().Select(v => v!.GetValue<double>()));
        Assert.Equal(5, per["resid_pre_patch_recovery"]![1]![0]!.AsArray().Count);
    }

    [Fact]
    public void AlignmentMapsLabelsAndOffsetsToPositions()
    {
        var byLabel = PositionAlignment.Create([4, 5, 3], Labels);
        Assert.True(byLabel.ByLabel);
        Assert.Equal([[1, 2]], byLabel.PositionsOf(0).Skip(1).Take(1));
        Assert.Equal([1.0, 3.0, 8.0], byLabel.Align(0, [1, 2, 4, 8]));          // a, mean of the two b, END
        Assert.Equal([10.0, 30.0, 50.0], byLabel.Align(1, [10, 20, 30, 40, 50]));
        Assert.Equal([6.0, 5.0, 7.0], byLabel.Align(2, [5, 6, 7]));
        var byOffset = PositionAlignment.Create([4, 5, 3]);
        Assert.False(byOffset.ByLabel);
        Assert.Equal([-2, -1, 0], byOffset.Offsets);
        Assert.Equal([[2], [3], [4]], byOffset.PositionsOf(1));
        Assert.Throws<ArgumentException>(() => PositionAlignment.Create([4, 5, 2], Labels));
    }
}
