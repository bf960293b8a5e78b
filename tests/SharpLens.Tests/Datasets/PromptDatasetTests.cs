using System.Diagnostics;
using System.Text;
using SharpLens.Datasets;
using SharpLens.IO;
using SharpLens.Tests.Support;
using SharpLens.Tokenization;

namespace SharpLens.Tests.Datasets;

/// <summary>The dataset reader: good files read in order; every bad line reported with its number, nothing skipped.</summary>
public class PromptDatasetTests
{
    const string Good = """{"clean":"Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Orange 1 Grape and 1","corrupted":"Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Mango 1 Grape and 1","answer":" Mango","wrong":" Orange"}""";

    static PromptDataset Parse(string text) => PromptDataset.Parse(Encoding.UTF8.GetBytes(text), "dataset t.jsonl");

    static SharpLensException Bad(string text) => Assert.Throws<SharpLensException>(() => Parse(text));

    [Fact]
    public void ReadsPairsInOrderWithLineNumbersAndOptionalKeys()
    {
        string second = """{"clean":"a b","corrupted":"a c","answer":" x","wrong":" y","candidates":[" x"," y"," z"],"labels":["A","B"],"meta":{"template":3}}""";
        var d = Parse("\uFEFF" + Good + "\r\n" + second + "\n");
        Assert.Equal(2, d.Pairs.Count);
        Assert.Equal([1, 2], d.Pairs.Select(p => p.Line));
        Assert.Equal(" Mango", d.Pairs[0].Answer);
        Assert.Null(d.Pairs[0].Labels);
        Assert.Equal([" x", " y", " z"], d.Pairs[1].Candidates!);
        Assert.Equal(["A", "B"], d.Pairs[1].Labels!);
        Assert.Equal(3, (int)d.Pairs[1].Meta!["template"]!);
        Assert.False(d.AllLabeled);
    }

    [Fact]
    public void WritingAndReadingRoundTrips()
    {
        var pairs = new[]
        {
            new PromptPair("é \"q\"\n", "ü\t", " a", " b", [" a", " b"], ["x", "y"], new System.Text.Json.Nodes.JsonObject { ["k"] = 1 }),
            new PromptPair("c", "d", " e", " f"),
        };
        string jsonl = PromptDataset.ToJsonl(pairs);
        Assert.Equal(2, jsonl.Count(c => c == '\n'));
        Assert.Contains("é", jsonl);   // UTF-8 kept, not \u-escaped
        var back = Parse(jsonl);
        Assert.Equal(pairs[0].Clean, back.Pairs[0].Clean);
        Assert.Equal(pairs[0].Corrupted, back.Pairs[0].Corrupted);
        Assert.Equal(pairs[0].Labels, back.Pairs[0].Labels);
        Assert.Equal(jsonl, back.ToJsonl());
    }

    public static TheoryData<string, string> BadLines => new()
    {
        { "{\"clean\":", "not valid JSON" },
        { "[1,2]", "not a JSON object (found a list)" },
        { "\"text\"", "not a JSON object (found a string)" },
        { """{"clean":"a","corrupted":"b","answer":" x"}""", "\"wrong\" is missing" },
        { """{"clean":"a","corrupted":"b","answer":" x","wrong":3}""", "\"wrong\" must be a string, not a number" },
        { """{"clean":"","corrupted":"b","answer":" x","wrong":" y"}""", "\"clean\" is empty" },
        { """{"clean":"a","corrupted":"b","answer":" x","wrong":" y","anwser":" x"}""", "unknown key \"anwser\"" },
        { """{"clean":"a","corrupted":"b","answer":" x","wrong":" y","answer":" z"}""", "\"answer\" appears more than once" },
        { """{"clean":"a","corrupted":"b","answer":" x","wrong":" y","candidates":[]}""", "\"candidates\" is an empty list" },
        { """{"clean":"a","corrupted":"b","answer":" x","wrong":" y","candidates":" x"}""", "\"candidates\" must be a list of strings, not a string" },
        { """{"clean":"a","corrupted":"b","answer":" x","wrong":" y","labels":["A",2]}""", "\"labels[1]\" must be a string, not a number" },
        { """{"clean":"a","corrupted":"b","answer":" x","wrong":" y","labels":["A",""]}""", "\"labels[1]\" is empty" },
        { """{"clean":"a","corrupted":"b","answer":" x","wrong":" y","meta":[1]}""", "\"meta\" must be an object, not a list" },
        { """{"clean":"\ud800","corrupted":"b","answer":" x","wrong":" y"}""", "\"clean\" is not valid Unicode" },
        { """{"clean":"a","corrupted":"a","answer":" x","wrong":" y"}""", "\"clean\" and \"corrupted\" are the same text" },
        { """{"clean":"a","corrupted":"b","answer":" x","wrong":" x"}""", "\"answer\" and \"wrong\" are the same text" },
        { """{"clean":"a","corrupted":"b","answer":" x","wrong":" y"} {}""", "not valid JSON" },
        { "   ", "empty line" },
        { "", "empty line" },
    };

    [Theory]
    [MemberData(nameof(BadLines))]
    public void EachBadLineIsReportedWithItsNumber(string line, string reason)
    {
        var e = Bad(Good + "\n" + Good + "\n" + line + "\n" + Good + "\n");
        Assert.Equal(ExitCode.Input, e.Code);
        Assert.StartsWith("dataset t.jsonl: 1 bad line (nothing was used", e.Message);
        Assert.Contains($"\n  line 3: {reason}", e.Message);
        Assert.DoesNotContain("line 1:", e.Message);
        Assert.DoesNotContain("line 4:", e.Message);
    }

    [Fact]
    public void InvalidUtf8IsReportedWithLineAndByte()
    {
        var bytes = Encoding.UTF8.GetBytes(Good + "\n{\"clean\":\"a").Concat(new byte[] { 0xC3, 0x28 })
            .Concat(Encoding.UTF8.GetBytes("\",\"corrupted\":\"b\",\"answer\":\" x\",\"wrong\":\" y\"}\n")).ToArray();
        var e = Assert.Throws<SharpLensException>(() => PromptDataset.Parse(bytes, "d"));
        Assert.Contains("line 2: not valid UTF-8 (at byte 11 of the line)", e.Message);
        Assert.Single(PromptDataset.FindProblems(bytes));
    }

    [Fact]
    public void EveryBadLineIsListedNotJustTheFirst()
    {
        var lines = Enumerable.Range(1, 30).Select(i => i % 3 == 0 ? "{" : Good);
        var e = Bad(string.Join("\n", lines));
        Assert.StartsWith("dataset t.jsonl: 10 bad lines", e.Message);
        foreach (int i in Enumerable.Range(1, 30).Where(i => i % 3 == 0)) Assert.Contains($"\n  line {i}: not valid JSON", e.Message);
        var problems = PromptDataset.FindProblems(Encoding.UTF8.GetBytes(string.Join("\n", lines)));
        Assert.Equal(Enumerable.Range(1, 10).Select(i => 3 * i), problems.Select(p => p.Line));
    }

    [Fact]
    public void SeveralProblemsOnOneLineAreAllNamed()
    {
        var e = Bad("""{"clean":1,"answer":""}""");
        Assert.Contains("\"clean\" must be a string, not a number; \"answer\" is empty; \"corrupted\" is missing; \"wrong\" is missing", e.Message);
    }

    [Fact]
    public void NamesFromTheFileAreEscaped()
    {
        var e = Bad("{\"x\\u001b[31m\":1}");
        Assert.DoesNotContain("\u001b", e.Message, StringComparison.Ordinal);
        Assert.Contains("unknown key \"x\\u001B[31m\"", e.Message);
    }

    [Fact]
    public void AnEmptyFileHasNoPairs()
    {
        Assert.Contains("no pairs", Bad("").Message);
        Assert.Contains("line 1: empty line", Bad("\n").Message);
    }

    [Fact]
    public async Task LoadRefusesMissingFilesDirectoriesFifosDevicesAndOversizedFiles()
    {
        string dir = Fixtures.TempDir("ds");
        Assert.Contains("no such file", Assert.Throws<SharpLensException>(() => PromptDataset.Load(Path.Combine(dir, "none.jsonl"))).Message);
        Assert.Contains("is a directory", Assert.Throws<SharpLensException>(() => PromptDataset.Load(dir)).Message);
        if (OperatingSystem.IsLinux())
        {
            Assert.Contains("is a character device, not a regular file", Assert.Throws<SharpLensException>(() => PromptDataset.Load("/dev/zero")).Message);
            string fifo = Path.Combine(dir, "pipe.jsonl");
            using (var mk = Process.Start("mkfifo", fifo)) mk.WaitForExit();
            var read = Task.Run(() => Assert.Throws<SharpLensException>(() => PromptDataset.Load(fifo)));
            Assert.Same(read, await Task.WhenAny(read, Task.Delay(TimeSpan.FromSeconds(10))));   // reading a FIFO must not wait for a writer
            Assert.Contains("is a FIFO (named pipe), not a regular file", (await read).Message);
        }
        string big = Path.Combine(dir, "big.jsonl");
        File.WriteAllText(big, Good + "\n" + Good + "\n");
        var e = Assert.Throws<SharpLensException>(() => RegularFile.ReadBounded(big, 100, "dataset big.jsonl"));
        Assert.Equal(ExitCode.Input, e.Code);
        Assert.Contains("than the limit of 100 bytes", e.Message);
        Assert.Equal(2, PromptDataset.Load(big).Pairs.Count);
        Assert.Equal(256L << 20, PromptDataset.MaxFileBytes);
    }

    [Fact]
    public void PrepareChecksEveryPairAgainstTheTokenizerByLine()
    {
        var tok = HfTokenizer.Load(Fixtures.Dir("setcomp-demo"));
        var seed = PromptDataset.Parse(Encoding.UTF8.GetBytes(Good), "d").Pairs[0];
        int tokens = tok.Encode(seed.Clean).Count;
        var pairs = new[]
        {
            seed with { Labels = Enumerable.Repeat("x", tokens).ToArray() },
            seed with { Corrupted = seed.Corrupted.Replace("1 Mango", "1 Mango Mango") },          // different lengths
            seed with { Answer = " Mango Peach" },                                                    // two tokens
            seed with { Labels = ["only", "three", "labels"] },                                       // label count
            seed,
        };
        var dataset = PromptDataset.Parse(Encoding.UTF8.GetBytes(PromptDataset.ToJsonl(pairs)), "dataset p.jsonl");
        var e = Assert.Throws<SharpLensException>(() => dataset.Prepare(tok));
        Assert.Equal(ExitCode.Input, e.Code);
        Assert.StartsWith("dataset p.jsonl: 3 pairs that do not fit the tokenizer", e.Message);
        Assert.Contains("\n  line 2: the clean and corrupted prompts have different token lengths", e.Message);
        Assert.Contains("\n  line 3: \"answer\": the answer \" Mango Peach\" is not one token after its prompt: it is 2 tokens", e.Message);
        Assert.Contains($"\n  line 4: 3 labels for {tokens} tokens", e.Message);
        Assert.DoesNotContain("line 1:", e.Message);
        Assert.DoesNotContain("line 5:", e.Message);

        var ok = PromptDataset.FromPairs([pairs[0], pairs[4]]).Prepare(tok, Loading.ModelConfig.Load(Fixtures.Dir("setcomp-demo")));
        Assert.Equal(2, ok.Count);
        Assert.Equal(tokens, ok[0].Prompts.Tokens.Length);
    }
}
