using System.Text;
using SharpLens.Datasets;
using SharpLens.Tests.Support;
using SharpLens.Tokenization;

namespace SharpLens.Tests.Datasets;

/// <summary>The seeded generators: reproducible bytes, and pairs that pass every check a study makes, verified by tokenizing.</summary>
public class GeneratorTests
{
    static readonly HfTokenizer Demo = HfTokenizer.Load(Fixtures.Dir("setcomp-demo"));
    static readonly HfTokenizer Qwen = HfTokenizer.Load(Fixtures.Dir("qwen-tokenizer"));

    public static TheoryData<string> Tokenizers => new() { "demo", "qwen" };

    static HfTokenizer Tok(string name) => name == "demo" ? Demo : Qwen;

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void SetcompIsReproducibleForASeedAndDiffersBetweenSeeds(string tokenizer)
    {
        string a = PromptDataset.ToJsonl(SetCompletionTask.Generate(Tok(tokenizer), 40, seed: 7));
        string b = PromptDataset.ToJsonl(SetCompletionTask.Generate(Tok(tokenizer), 40, seed: 7));
        string c = PromptDataset.ToJsonl(SetCompletionTask.Generate(Tok(tokenizer), 40, seed: 8));
        Assert.Equal(Encoding.UTF8.GetBytes(a), Encoding.UTF8.GetBytes(b));
        Assert.NotEqual(a, c);
        // A shorter run is a prefix of a longer one: pairs depend on the seed and their place in the stream only.
        Assert.StartsWith(PromptDataset.ToJsonl(SetCompletionTask.Generate(Tok(tokenizer), 10, seed: 7)), a);
    }

    [Fact]
    public void IoiIsReproducibleForASeedAndDiffersBetweenSeeds()
    {
        string a = PromptDataset.ToJsonl(IoiTask.Generate(Qwen, 40, seed: 1));
        Assert.Equal(a, PromptDataset.ToJsonl(IoiTask.Generate(Qwen, 40, seed: 1)));
        Assert.NotEqual(a, PromptDataset.ToJsonl(IoiTask.Generate(Qwen, 40, seed: 2)));
    }

    /// <summary>Every pair read back from its JSONL passes the study's checks: equal lengths, single-token answers,
    /// one label per token — and checked again here by tokenizing directly.</summary>
    static void AssertFitsTokenizer(HfTokenizer tok, IReadOnlyList<PromptPair> pairs)
    {
        var dataset = PromptDataset.Parse(Encoding.UTF8.GetBytes(PromptDataset.ToJsonl(pairs)), "generated");
        Assert.True(dataset.AllLabeled);
        var prepared = dataset.Prepare(tok);
        Assert.Equal(pairs.Count, prepared.Count);
        foreach (var p in pairs)
        {
            var clean = tok.Encode(p.Clean);
            var corrupted = tok.Encode(p.Corrupted);
            Assert.Equal(clean.Count, corrupted.Count);
            Assert.Equal(clean.Count, p.Labels!.Count);
            Assert.Single(tok.Encode(p.Answer));
            Assert.Single(tok.Encode(p.Wrong));
            Assert.Equal(clean.Append(tok.Encode(p.Answer)[0]), tok.Encode(p.Clean + p.Answer));
            Assert.Equal(corrupted.Append(tok.Encode(p.Wrong)[0]), tok.Encode(p.Corrupted + p.Wrong));
            Assert.All(p.Candidates!, c => Assert.Single(tok.Encode(c)));
            Assert.Contains(p.Answer, p.Candidates!);
            Assert.Contains(p.Wrong, p.Candidates!);
            Assert.Equal("END", p.Labels![^1]);
        }
    }

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void SetcompPairsFitTheTokenizerAndFollowTheTask(string tokenizer)
    {
        var tok = Tok(tokenizer);
        var pairs = SetCompletionTask.Generate(tok, 300, seed: 3);
        AssertFitsTokenizer(tok, pairs);
        foreach (var p in pairs)
        {
            // "<subject> has <count> <category>, <i1>, …, <iN-1> and <iN> - 1 <l1> … 1 <lN-1> and 1"
            var (head, body) = (p.Clean.Split(" - ")[0], p.Clean.Split(" - ")[1]);
            string[] declared = head[(head.IndexOf(',') + 2)..].Replace(" and ", ", ").Split(", ");
            string[] listed = ListedItems(body), listedCorrupted = ListedItems(p.Corrupted.Split(" - ")[1]);
            Assert.InRange(declared.Length, 3, 5);
            Assert.Equal(declared.Length - 1, listed.Length);
            Assert.Equal(new[] { p.Answer.Trim() }, declared.Except(listed));
            Assert.Equal(new[] { p.Wrong.Trim() }, declared.Except(listedCorrupted));
            Assert.Single(Enumerable.Range(0, listed.Length), i => listed[i] != listedCorrupted[i]);
            Assert.Equal(p.Clean.Split(" - ")[0], p.Corrupted.Split(" - ")[0]);
            Assert.EndsWith(" and 1", p.Clean, StringComparison.Ordinal);
            Assert.Contains(SetCompletionTask.Subjects, s => head.StartsWith(s + " has ", StringComparison.Ordinal));
            // Role labels sit on the tokens they name.
            var ids = tok.Encode(p.Clean).ToArray();
            string Token(string label) => tok.Decode(ids.Where((_, t) => p.Labels![t] == label).ToArray());
            Assert.Equal(p.Answer, Token("answer_item"));
            Assert.Equal(p.Wrong, Token("wrong_item"));
            Assert.Equal(p.Wrong, Token("swapped_listed"));
            Assert.Equal(" -", Token("sep"));
            Assert.All(p.Labels!, l => Assert.Contains(l, SetCompletionTask.LabelNames));
        }
        Assert.Equal([3, 4, 5], pairs.Select(p => (int)p.Meta!["n_items"]!).Distinct().Order());
        Assert.Equal(4, pairs.Select(p => (string)p.Meta!["category"]!).Distinct().Count());
    }

    static string[] ListedItems(string body) => body.Split(' ').Where((_, i) => i % 2 == 1).Where(w => w != "and" && w != "1").ToArray();

    [Fact]
    public void SetcompWithTheSeedPairsShape()
    {
        // The seed pair is one the generator can draw: same template, and the demo model's tokenizer fits it.
        var p = SetCompletionTask.Generate(Demo, 200, seed: 0).First(x => x.Meta!["n_items"]!.GetValue<int>() == 4);
        Assert.Matches(@"^[A-Za-z ]+ has four \w+, \w+, \w+, \w+ and \w+ - 1 \w+ 1 \w+ 1 \w+ and 1$", p.Clean);
    }

    [Fact]
    public void IoiPairsFitTheTokenizerAndFollowThePaper()
    {
        var pairs = IoiTask.Generate(Qwen, 400, seed: 5);
        AssertFitsTokenizer(Qwen, pairs);
        foreach (var p in pairs)
        {
            var ids = Qwen.Encode(p.Clean).ToArray();
            var corruptedIds = Qwen.Encode(p.Corrupted).ToArray();
            int Pos(string label) => Array.IndexOf(p.Labels!.ToArray(), label);
            Assert.Equal(p.Answer, Qwen.Decode([ids[Pos("IO")]]));
            Assert.Equal(p.Wrong, Qwen.Decode([ids[Pos("S1")]]));
            Assert.Equal(p.Wrong, Qwen.Decode([ids[Pos("S2")]]));
            // ABC: only S2 differs, and it becomes the third name.
            Assert.Equal([Pos("S2")], Enumerable.Range(0, ids.Length).Where(t => ids[t] != corruptedIds[t]));
            string c = Qwen.Decode([corruptedIds[Pos("S2")]]);
            Assert.Equal([p.Answer, p.Wrong, c], p.Candidates!);
            Assert.Equal(3, p.Candidates!.Distinct().Count());
            bool abba = (string)p.Meta!["order"]! == "ABBA";
            Assert.Equal(abba, Pos("IO") < Pos("S1"));
            Assert.EndsWith(" to", p.Clean, StringComparison.Ordinal);
        }
        Assert.Equal(["ABBA", "BABA"], pairs.Select(p => (string)p.Meta!["order"]!).Distinct().Order());
        Assert.Equal(IoiTask.BabaTemplates.Count, pairs.Select(p => (int)p.Meta!["template"]!).Distinct().Count());
    }

    [Fact]
    public void IoiAllNamesCorruptionIsThePapersAbcDistribution()
    {
        var pairs = IoiTask.Generate(Qwen, 150, seed: 6, IoiCorruption.AllNames);
        AssertFitsTokenizer(Qwen, pairs);
        foreach (var p in pairs)
        {
            var ids = Qwen.Encode(p.Clean).ToArray();
            var corruptedIds = Qwen.Encode(p.Corrupted).ToArray();
            var labels = p.Labels!.ToArray();
            int[] names = [Array.IndexOf(labels, "IO"), Array.IndexOf(labels, "S1"), Array.IndexOf(labels, "S2")];
            Assert.Equal(names.Order(), Enumerable.Range(0, ids.Length).Where(t => ids[t] != corruptedIds[t]));
            Assert.DoesNotContain(p.Answer, p.Corrupted.Split(' ').Select(w => " " + w.Trim(',', '.')));
            Assert.DoesNotContain(p.Wrong, p.Corrupted.Split(' ').Select(w => " " + w.Trim(',', '.')));
            Assert.Equal(3, names.Select(t => corruptedIds[t]).Distinct().Count());
            Assert.Equal(5, p.Candidates!.Distinct().Count());
            Assert.Equal("abc_all", (string)p.Meta!["corruption"]!);
        }
    }

    [Fact]
    public void IoiSkipsNamesThatAreNotSingleTokens()
    {
        var names = IoiTask.SingleTokenNames(Qwen);
        Assert.True(names.Count >= 50, $"{names.Count} single-token names");
        Assert.All(names, n => Assert.Single(Qwen.Encode(" " + n)));
        Assert.All(IoiTask.Names.Except(names), n => Assert.NotEqual(1, Qwen.Encode(" " + n).Count));
        var used = IoiTask.Generate(Qwen, 200, seed: 9).SelectMany(p => p.Candidates!).Select(s => s.Trim()).Distinct();
        Assert.All(used, n => Assert.Contains(n, names));
    }

    [Fact]
    public void IoiOnATokenizerWithoutNameTokensIsAnInputError()
    {
        Assert.Empty(IoiTask.SingleTokenNames(Demo));
        var e = Assert.Throws<SharpLensException>(() => IoiTask.Generate(Demo, 5, seed: 0));
        Assert.Equal(ExitCode.Input, e.Code);
        Assert.StartsWith("only 0 of the 100 IOI names are single tokens", e.Message);
    }
}
