using System.Text.Json.Nodes;
using SharpLens.Tests.Support;
using Xunit;

namespace SharpLens.Tests.Cli;

/// <summary>`sharplens circuit` end to end on the demo model: results.json, the report page and its graph, re-rendering
/// by `sharplens report`, and bad input (exit codes of the README's table, nothing written).</summary>
public class CliCircuitTests
{
    static string Dataset(string cwd, int n = 5)
    {
        var r = CliRunner.RunIn(cwd, null, "dataset", "setcomp", "--n", n.ToString(), "--seed", "3", "--out", "pairs.jsonl");
        Assert.True(r.ExitCode == 0, r.Stderr);
        return Path.Combine(cwd, "pairs.jsonl");
    }

    [Fact]
    public void Circuit_WritesEdgesScoresFaithfulnessAndAGraph()
    {
        string cwd = Fixtures.TempDir("circuit");
        Dataset(cwd);
        var r = CliRunner.RunIn(cwd, null, "circuit", "--dataset", "pairs.jsonl", "--edges", "40", "--ig-steps", "2", "--out", "o");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("Faithfulness", r.Stdout);
        var o = JsonNode.Parse(File.ReadAllText(Path.Combine(cwd, "o", "results.json")))!.AsObject();
        Assert.Equal("circuit", (string)o["command"]!);
        Assert.Equal("eap-ig", (string)o["method"]!);
        Assert.Equal(2, (int)o["ig_steps"]!);
        Assert.Equal(40, (int)o["edges_requested"]!);
        Assert.Equal(5, (int)o["dataset"]!["n_pairs"]!);
        int used = (int)o["n_used"]!;
        Assert.Equal(5, used + o["excluded"]!.AsArray().Count);
        Assert.Equal(used, o["per_pair"]!["faithfulness"]!.AsArray().Count);
        var perPair = o["per_pair"]!["faithfulness"]!.AsArray().Select(x => (double)x!).ToList();
        Assert.Equal(perPair.Average(), (double)o["faithfulness"]!, 9);
        var edges = o["circuit"]!["edges"]!.AsArray();
        Assert.InRange(edges.Count, 1, 40);
        Assert.Equal(40, o["top_edges"]!.AsArray().Count);
        // Every circuit edge is among the top edges with the same score, and the scores are ranked by magnitude.
        var all = o["edge_scores"]!.AsArray().Select(x => ((string)x![0]!, (string)x[1]!, (string)x[2]!, (double)x[3]!)).ToList();
        Assert.Equal((int)o["graph"]!["n_edges"]!, all.Count);
        Assert.True(all.Zip(all.Skip(1)).All(p => Math.Abs(p.First.Item4) >= Math.Abs(p.Second.Item4)));
        foreach (var e in edges)
            Assert.Contains(all.Take(40), x => x.Item1 == (string)e!["from"]! && x.Item2 == (string)e["to"]! && x.Item3 == (string)e["port"]! && x.Item4 == (double)e["score"]!);
        var nodes = o["circuit"]!["nodes"]!.AsArray().Select(x => (string)x!).ToList();
        Assert.Equal("input", nodes[0]);
        Assert.Equal("logits", nodes[^1]);

        string html = File.ReadAllText(Path.Combine(cwd, "o", "report.html"));
        Assert.Contains("<svg", html);
        Assert.Contains("class=\"edge\"", html);
        foreach (var n in nodes) Assert.Contains($">{n}</text>", html);
        Assert.Equal(edges.Count, System.Text.RegularExpressions.Regex.Matches(html, "<path class=\"edge\"").Count);
        Assert.DoesNotContain("<script src", html);
        Assert.DoesNotContain("href=\"http", html);
        string figures = Path.Combine(cwd, "o", "figures");
        Assert.True(!Directory.Exists(figures) || Directory.GetFiles(figures).Length == 0, "a circuit report has no PNG figures");

        // `sharplens report` renders the same page from the saved results.
        var again = CliRunner.RunIn(cwd, null, "report", Path.Combine("o", "results.json"), "--out", "o2");
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Equal(html, File.ReadAllText(Path.Combine(cwd, "o2", "report.html")));
    }

    [Theory]
    [InlineData("--edges", "0", 2, "--edges must be at least 1")]
    [InlineData("--edges", "100000", 2, "between 1 and 479")]
    [InlineData("--edges", "x", 2, "--edges")]
    [InlineData("--ig-steps", "0", 2, "--ig-steps must be between 1")]
    [InlineData("--dataset", "missing.jsonl", 3, "missing.jsonl: no such file")]
    [InlineData("--dataset", "bad.jsonl", 3, "line 2")]
    [InlineData("--dataset", "empty.jsonl", 3, "no pairs")]
    public void Circuit_BadInput_OneMessageAndTheTablesExitCode_NothingWritten(string option, string value, int code, string message)
    {
        string cwd = Fixtures.TempDir("circuit-bad");
        string good = Dataset(cwd, 2);
        File.WriteAllText(Path.Combine(cwd, "bad.jsonl"), File.ReadAllLines(good)[0] + "\n{\"clean\": 1}\n");
        File.WriteAllText(Path.Combine(cwd, "empty.jsonl"), "");
        var args = new List<string> { "circuit", "--dataset", "pairs.jsonl", "--edges", "10", "--out", "o" };
        int at = args.IndexOf(option);
        if (at >= 0) args[at + 1] = value; else args.AddRange([option, value]);
        var r = CliRunner.RunIn(cwd, null, [.. args]);
        Assert.True(r.ExitCode == code, $"exit {r.ExitCode}: {r.Stderr}");
        Assert.Contains(message, r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);   // no stack trace
        Assert.False(File.Exists(Path.Combine(cwd, "o", "results.json")));
    }

    [Fact]
    public void Circuit_WithoutEdges_IsAUsageError()
    {
        string cwd = Fixtures.TempDir("circuit-noedges");
        Dataset(cwd, 2);
        var r = CliRunner.RunIn(cwd, null, "circuit", "--dataset", "pairs.jsonl");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--edges", r.Stderr);
    }
}
