using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SharpLens.Statistics;
using SharpLens.Tokenization;

namespace SharpLens.Datasets;

/// <summary>
/// Indirect object identification (Wang et al. 2022, "Interpretability in the Wild"): "When Mary and John went to the
/// store, John gave a drink to" → <c> Mary</c>. The indirect object (IO) and the subject (S) are introduced together (S1 and
/// IO, in the order ABBA = IO first or BABA = S first) and S is repeated (S2); the answer is IO, the wrong token S.
/// The templates, places and objects are the paper's; the corrupted prompt is the paper's "ABC" distribution made one
/// position apart: S2 is replaced by a third name C, so that no name is repeated and nothing singles out the IO
/// (the clean and corrupted prompts differ at S2 only, which is what activation patching needs).
/// <see cref="IoiCorruption.AllNames"/> is the paper's own p_ABC instead: IO, S1 and S2 all replaced by three other names.
/// </summary>
public static partial class IoiTask
{
    /// <summary>The paper's templates in BABA form ([B] = S, [A] = IO); the ABBA form swaps the first [B] and [A]. Each
    /// ends before the final IO, which is the answer.</summary>
    public static readonly IReadOnlyList<string> BabaTemplates =
    [
        "Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to",
        "Then, [B] and [A] had a lot of fun at the [PLACE]. [B] gave a [OBJECT] to",
        "Then, [B] and [A] were working at the [PLACE]. [B] decided to give a [OBJECT] to",
        "Then, [B] and [A] were thinking about going to the [PLACE]. [B] wanted to give a [OBJECT] to",
        "Then, [B] and [A] had a long argument, and afterwards [B] said to",
        "After [B] and [A] went to the [PLACE], [B] gave a [OBJECT] to",
        "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give it to",
        "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give the [OBJECT] to",
        "While [B] and [A] were working at the [PLACE], [B] gave a [OBJECT] to",
        "While [B] and [A] were commuting to the [PLACE], [B] gave a [OBJECT] to",
        "After the lunch, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to",
        "Afterwards, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to",
        "Then, [B] and [A] had a long argument. Afterwards [B] said to",
        "The [PLACE] [B] and [A] went to had a [OBJECT]. [B] gave it to",
        "Friends [B] and [A] found a [OBJECT] at the [PLACE]. [B] gave it to",
    ];

    public static readonly IReadOnlyList<string> Places = ["store", "garden", "restaurant", "school", "hospital", "office", "house", "station"];

    public static readonly IReadOnlyList<string> Objects = ["ring", "kiss", "bone", "basketball", "computer", "necklace", "drink", "snack"];

    /// <summary>Common English first names; a tokenizer uses those that are one token with a leading space.</summary>
    public static readonly IReadOnlyList<string> Names =
    [
        "Michael", "Christopher", "Jessica", "Matthew", "Ashley", "Jennifer", "Joshua", "Amanda", "Daniel", "David",
        "James", "Robert", "John", "Joseph", "Andrew", "Ryan", "Brandon", "Jason", "Justin", "Sarah",
        "William", "Jonathan", "Stephanie", "Brian", "Nicole", "Nicholas", "Anthony", "Heather", "Eric", "Elizabeth",
        "Adam", "Megan", "Melissa", "Kevin", "Steven", "Thomas", "Timothy", "Christina", "Kyle", "Rachel",
        "Laura", "Lauren", "Amber", "Brittany", "Danielle", "Richard", "Kimberly", "Jeffrey", "Amy", "Crystal",
        "Michelle", "Tiffany", "Jeremy", "Benjamin", "Mark", "Emily", "Aaron", "Charles", "Rebecca", "Jacob",
        "Stephen", "Patrick", "Sean", "Erin", "Jamie", "Kelly", "Samantha", "Nathan", "Sara", "Dustin",
        "Paul", "Angela", "Tyler", "Scott", "Katherine", "Andrea", "Gregory", "Erica", "Mary", "Travis",
        "Lisa", "Kenneth", "Bryan", "Lindsey", "Kristen", "Jose", "Alexander", "Jesse", "Katie", "Lindsay",
        "Shannon", "Vanessa", "Courtney", "Christine", "Alicia", "Cody", "Allison", "Bradley", "Samuel", "Alice",
    ];

    /// <summary>Labels: <c>IO</c>, <c>S1</c>, <c>S2</c> (the name positions), <c>and</c> (between the first two names),
    /// <c>place</c>, <c>object</c>, <c>other</c> (every other token) and <c>END</c> (the final token).</summary>
    public static readonly IReadOnlyList<string> LabelNames = ["IO", "S1", "S2", "and", "place", "object", "other", LabeledPrompt.End];

    /// <summary>The names of <see cref="Names"/> that are one token with a leading space for <paramref name="tokenizer"/>.</summary>
    public static IReadOnlyList<string> SingleTokenNames(HfTokenizer tokenizer) =>
        Names.Where(name => GeneratorChecks.IsSingleToken(tokenizer, " " + name)).ToArray();

    /// <summary>
    /// <paramref name="n"/> pairs drawn from <see cref="SeededRandom"/>(<paramref name="seed"/>): per pair the order (ABBA or
    /// BABA), the template, three distinct names (IO, S, C) of <see cref="SingleTokenNames"/>, a place and an object. Pairs
    /// that fail the tokenizer checks (answer tokens, equal lengths) are skipped and the draws go on.
    /// </summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) when fewer than three names are single tokens
    /// for this tokenizer, or too few draws fit it.</exception>
    public static IReadOnlyList<PromptPair> Generate(HfTokenizer tokenizer, int n, long seed, IoiCorruption corruption = IoiCorruption.ThirdNameAtS2)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        var names = SingleTokenNames(tokenizer);
        int needed = corruption == IoiCorruption.AllNames ? 5 : 3;
        if (names.Count < needed)
            throw SharpLensException.Input($"only {names.Count} of the {Names.Count} IOI names are single tokens (with a leading space) for this tokenizer; " +
                                           $"IOI needs {needed} distinct names — use a model with a GPT-2-style tokenizer (GPT-2, Qwen, Llama 3)", nameof(tokenizer));
        var rng = new SeededRandom(seed);
        var pairs = new List<PromptPair>(n);
        long attempts = 0, limit = GeneratorChecks.MaxAttempts(n);
        while (pairs.Count < n)
        {
            if (++attempts > limit)
                throw SharpLensException.Input($"only {pairs.Count} of {n} IOI pairs fit this tokenizer after {limit:N0} draws (both prompts must have the same length)");
            var pair = Draw(tokenizer, rng, names, corruption);
            if (pair != null) pairs.Add(pair);
        }
        return pairs;
    }

    [GeneratedRegex(@" ?\[(A|B|PLACE|OBJECT)\]")]
    private static partial Regex Slot();

    static PromptPair? Draw(HfTokenizer tok, SeededRandom rng, IReadOnlyList<string> names, IoiCorruption corruption)
    {
        bool abba = rng.NextInt(2) == 0;
        int index = rng.NextInt(BabaTemplates.Count);
        bool all = corruption == IoiCorruption.AllNames;
        string[] drawn = rng.Sample(names, all ? 5 : 3);
        string io = drawn[0], s = drawn[1], c = drawn[2];
        string place = rng.Choose(Places), obj = rng.Choose(Objects);
        string template = abba ? SwapFirstNames(BabaTemplates[index]) : BabaTemplates[index];

        LabeledPrompt Build(string io, string s1, string s2)
        {
            var p = new LabeledPrompt();
            int at = 0, namesSeen = 0, subjectsSeen = 0;
            foreach (Match m in Slot().Matches(template))
            {
                string literal = template[at..m.Index];
                if (literal.Length > 0) p.Add(literal, literal == " and" && namesSeen == 1 ? "and" : "other");   // "[B] and [A]"
                string space = m.Value.StartsWith(' ') ? " " : "";
                switch (m.Groups[1].Value)
                {
                    case "A": p.Add(space + io, "IO"); namesSeen++; break;
                    case "B": p.Add(space + (subjectsSeen == 0 ? s1 : s2), subjectsSeen == 0 ? "S1" : "S2"); subjectsSeen++; namesSeen++; break;
                    case "PLACE": p.Add(space + place, "place"); break;
                    default: p.Add(space + obj, "object"); break;
                }
                at = m.Index + m.Length;
            }
            return p.Add(template[at..], "other");
        }

        var meta = new JsonObject { ["task"] = "ioi", ["template"] = index, ["order"] = abba ? "ABBA" : "BABA", ["corruption"] = all ? "abc_all" : "abc_s2" };
        var corrupted = all ? Build(drawn[2], drawn[3], drawn[4]) : Build(io, s, c);
        return GeneratorChecks.Pair(tok, Build(io, s, s), corrupted, " " + io, " " + s, drawn.Select(x => " " + x).ToArray(), meta);
    }

    /// <summary>BABA → ABBA: the first [B] and the first [A] change places.</summary>
    static string SwapFirstNames(string baba)
    {
        int b = baba.IndexOf("[B]", StringComparison.Ordinal), a = baba.IndexOf("[A]", StringComparison.Ordinal);
        return baba[..b] + "[A]" + baba[(b + 3)..a] + "[B]" + baba[(a + 3)..];
    }
}

/// <summary>How <see cref="IoiTask"/> corrupts a prompt.</summary>
public enum IoiCorruption
{
    /// <summary>S2 replaced by a third name C: one position differs, no name repeats ("A and B … C gave it to").</summary>
    ThirdNameAtS2,
    /// <summary>The paper's p_ABC: IO, S1 and S2 replaced by three other names (all distinct from the clean prompt's), so
    /// three positions differ and neither answer token appears in the corrupted prompt.</summary>
    AllNames,
}
