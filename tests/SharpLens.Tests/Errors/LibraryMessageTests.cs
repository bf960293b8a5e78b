using SharpLens.Experiments;
using SharpLens.Hub;
using SharpLens.Loading;
using SharpLens.Tests.Support;
using SharpLens.Tokenization;

namespace SharpLens.Tests.Errors;

/// <summary>
/// The library knows nothing of the command line: its errors name the parameter they are about
/// (<see cref="SharpLensException.Parameter"/>), and no message names an option ("--answer", "--heads", "--force", …);
/// the CLI puts its option in front (<see cref="CliErrorTests"/>).
/// </summary>
public class LibraryMessageTests
{
    static readonly string Dir = Fixtures.Dir("tiny-qwen2");
    static readonly HfTokenizer Tok = HfTokenizer.Load(Dir);
    static readonly ModelConfig Config = ModelConfig.Load(Dir);
    static readonly string C = PromptSet.SeedClean, K = PromptSet.SeedCorrupted;

    public static TheoryData<string, string> Cases => new()
    {
        { "answer of two tokens", "answer" },
        { "empty answer", "answer" },
        { "wrong of two tokens", "wrong" },
        { "answer equals wrong", "wrong" },
        { "candidate of two tokens", "candidates" },
        { "pair layer out of range", nameof(StudyOptions.PairLayer) },
        { "head out of range", nameof(StudyOptions.Heads) },
        { "no sender", "senders" },
        { "sender out of range", "senders" },
        { "sender twice", "senders" },
        { "unknown experiment in only", "only" },
        { "unknown experiment in skip", "skip" },
        { "empty only", "only" },
        { "model neither folder nor hub id", "model" },
        { "zero layers", "layers" },
        { "non-empty destination", "overwrite" },
    };

    static void Throw(string what)
    {
        switch (what)
        {
            case "answer of two tokens": PromptSet.Prepare(Tok, Config, C, K, " Mango Peach", " Orange"); break;
            case "empty answer": PromptSet.Prepare(Tok, Config, C, K, "", " Orange"); break;
            case "wrong of two tokens": PromptSet.Prepare(Tok, Config, C, K, " Mango", " Orange Peach"); break;
            case "answer equals wrong": PromptSet.Prepare(Tok, Config, C, K, " Mango", " Mango"); break;
            case "candidate of two tokens": PromptSet.Prepare(Tok, Config, C, K, " Mango", " Orange", candidates: [" Mango", " Grape Peach"]); break;
            case "pair layer out of range": Study.ValidateOptions(Config, new StudyOptions { PairLayer = 99 }); break;
            case "head out of range": Study.ValidateOptions(Config, new StudyOptions { Heads = [(0, 99)] }); break;
            case "no sender": PathPatching.ValidateSenders(Config, []); break;
            case "sender out of range": PathPatching.ValidateSenders(Config, [(99, 0)]); break;
            case "sender twice": PathPatching.ValidateSenders(Config, [(1, 0), (1, 0)]); break;
            case "unknown experiment in only": StudyExperiments.Select("resid_patch,nope", null); break;
            case "unknown experiment in skip": StudyExperiments.Select(null, "nope"); break;
            case "empty only": StudyExperiments.Select(",", null); break;
            case "model neither folder nor hub id": ModelLocator.Resolve("/no/such/dir", null); break;
            case "zero layers": RandomCheckpoint.Preset("qwen2-0.5b").WithLayers(0); break;
            case "non-empty destination":
                string dir = Fixtures.TempDir("library-message");
                File.WriteAllText(Path.Combine(dir, "notes.md"), "mine");
                RandomCheckpoint.CheckDestination(dir, overwrite: false);
                break;
            default: throw new ArgumentException(what);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MessagesNameTheParameterAndNoOption(string what, string parameter)
    {
        var e = Assert.ThrowsAny<SharpLensException>(() => Throw(what));
        Assert.Equal(parameter, e.Parameter);
        Assert.DoesNotContain("--", e.Message);
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
    }
}
