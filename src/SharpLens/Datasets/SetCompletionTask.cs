using System.Text.Json.Nodes;
using SharpLens.Statistics;
using SharpLens.Tokenization;

namespace SharpLens.Datasets;

/// <summary>
/// The seed's set-completion task, as <c>reference/setcomp.py</c> (which trained the demo model) draws it: a subject,
/// a category and 3–5 items of its pool are declared, all but one are listed after " -", and the answer is the item not
/// listed yet. The corrupted prompt replaces one listed item (the "swapped" one) by the answer item, so that the swapped
/// item becomes the missing one: the seed's pair
/// <c>Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Orange 1 Grape and 1</c> → <c> Mango</c>, corrupted
/// <c>… - 1 Peach 1 Mango 1 Grape and 1</c> → <c> Orange</c>.
/// </summary>
public static class SetCompletionTask
{
    public static readonly IReadOnlyList<string> Subjects = ["Man", "Woman", "Boy", "Girl", "Tom", "Lily", "Anna", "Ben", "The cook", "My aunt"];

    /// <summary>The categories and their item pools, in setcomp.py's order.</summary>
    public static readonly IReadOnlyList<(string Category, string[] Items)> Sets =
    [
        ("fruits", ["Peach", "Orange", "Grape", "Mango", "Apple", "Banana", "Cherry", "Lemon", "Plum", "Pear", "Melon", "Kiwi"]),
        ("toys", ["Ball", "Car", "Drum", "Kite", "Robot", "Doll", "Train", "Boat", "Puzzle", "Yoyo"]),
        ("pets", ["Dog", "Cat", "Fish", "Bird", "Rabbit", "Horse", "Mouse", "Frog", "Duck", "Goat"]),
        ("colors", ["Red", "Blue", "Green", "Yellow", "Pink", "Black", "White", "Purple", "Brown", "Gray"]),
    ];

    static readonly IReadOnlyList<(int Count, string Word)> Counts = [(3, "three"), (4, "four"), (5, "five")];

    /// <summary>
    /// Labels by role, one per token: <c>subject</c>, <c>has</c>, <c>count</c>, <c>category</c>, <c>comma</c>; the declared
    /// items <c>answer_item</c> (the clean answer), <c>wrong_item</c> (the swapped item, the corrupted answer) and
    /// <c>item</c> (the others), with <c>and</c> before the last; <c>sep</c> (" -"); <c>one</c> (each " 1"); the listed items
    /// <c>swapped_listed</c> (the slot the corruption changes) and <c>listed</c>; <c>and_list</c>; and <c>END</c>, the final
    /// token.
    /// </summary>
    public static readonly IReadOnlyList<string> LabelNames =
        ["subject", "has", "count", "category", "comma", "answer_item", "wrong_item", "item", "and", "sep", "one", "swapped_listed", "listed", "and_list", LabeledPrompt.End];

    /// <summary>
    /// <paramref name="n"/> pairs drawn from <see cref="SeededRandom"/>(<paramref name="seed"/>): same seed and tokenizer,
    /// same pairs. Only pairs whose answer and wrong item are single tokens for <paramref name="tokenizer"/> (alone and after
    /// their prompt) and whose two prompts have the same token length are kept; the others are skipped and the draws go on.
    /// </summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) when the tokenizer fits so few draws that
    /// <paramref name="n"/> pairs are not found within <see cref="GeneratorChecks.MaxAttempts"/> tries.</exception>
    public static IReadOnlyList<PromptPair> Generate(HfTokenizer tokenizer, int n, long seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        var rng = new SeededRandom(seed);
        var pairs = new List<PromptPair>(n);
        long attempts = 0, limit = GeneratorChecks.MaxAttempts(n);
        while (pairs.Count < n)
        {
            if (++attempts > limit)
                throw SharpLensException.Input($"only {pairs.Count} of {n} set-completion pairs fit this tokenizer after {limit:N0} draws " +
                                               "(their answers must be single tokens and both prompts the same length); use a model whose tokenizer has the item names as tokens");
            var pair = Draw(tokenizer, rng);
            if (pair != null) pairs.Add(pair);
        }
        return pairs;
    }

    /// <summary>
    /// One training example exactly as setcomp.py's <c>example()</c> draws it (subject, category, count, the declared items,
    /// the listed ones): the prompt and its answer, the declared item not listed yet (with its leading space).
    /// </summary>
    public static (string Prompt, string Answer) Example(SeededRandom rng)
    {
        var (subject, category, _, countWord, items, listed, missing) = Drawn.From(rng);
        string declared = string.Join(", ", items[..^1]) + " and " + items[^1];
        string body = " - " + string.Join(" ", listed.Select(x => "1 " + x)) + " and 1";
        return ($"{subject} has {countWord} {category}, {declared}{body}", " " + missing);
    }

    /// <summary>What setcomp.py's <c>example()</c> draws, in its order: subject, category (and its pool), count, the
    /// declared items, the listed ones, and the declared item left out.</summary>
    readonly record struct Drawn(string Subject, string Category, int Count, string CountWord, string[] Items, string[] Listed, string Missing)
    {
        public static Drawn From(SeededRandom rng)
        {
            string subject = rng.Choose(Subjects);
            var (category, pool) = rng.Choose(Sets);
            var (count, countWord) = rng.Choose(Counts);
            string[] items = rng.Sample(pool, count);
            string[] listed = rng.Sample(items, count - 1);
            return new(subject, category, count, countWord, items, listed, items.First(x => !listed.Contains(x)));
        }
    }

    static PromptPair? Draw(HfTokenizer tok, SeededRandom rng)
    {
        // The same draws, in the same order, as setcomp.py's example(); then which listed item is swapped.
        var (subject, category, count, countWord, items, listed, missing) = Drawn.From(rng);
        int swapped = rng.NextInt(count - 1);
        string wrong = listed[swapped];

        LabeledPrompt Build(string[] list)
        {
            var p = new LabeledPrompt().Add(subject, "subject").Add(" has", "has").Add(" " + countWord, "count").Add(" " + category, "category").Add(",", "comma");
            for (int i = 0; i < items.Length; i++)
            {
                if (i == items.Length - 1) p.Add(" and", "and");
                else if (i > 0) p.Add(",", "comma");
                p.Add(" " + items[i], items[i] == missing ? "answer_item" : items[i] == wrong ? "wrong_item" : "item");
            }
            p.Add(" -", "sep");
            for (int i = 0; i < list.Length; i++) p.Add(" 1", "one").Add(" " + list[i], i == swapped ? "swapped_listed" : "listed");
            return p.Add(" and", "and_list").Add(" 1", "one");   // the final " 1" ends as END (LabeledPrompt)
        }

        var corruptedList = (string[])listed.Clone();
        corruptedList[swapped] = missing;
        var meta = new JsonObject { ["task"] = "setcomp", ["category"] = category, ["n_items"] = count, ["swapped_slot"] = swapped };
        return GeneratorChecks.Pair(tok, Build(listed), Build(corruptedList), " " + missing, " " + wrong,
            items.Select(x => " " + x).ToArray(), meta);
    }
}
