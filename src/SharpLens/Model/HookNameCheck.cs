using System.Runtime.CompilerServices;

namespace SharpLens.Model;

/// <summary>Checks hook names against a model's hook points; an unknown one is an <see cref="UnknownHookException"/>
/// naming the closest valid names by edit distance.</summary>
public static class HookNameCheck
{
    static readonly ConditionalWeakTable<HookNames, HashSet<string>> Valid = new();

    static HashSet<string> Set(HookNames names) => Valid.GetValue(names, n => n.All.ToHashSet(StringComparer.Ordinal));

    /// <summary>Whether <paramref name="name"/> is a hook point of the model (a hashed look-up).</summary>
    public static bool Contains(this HookNames names, string name) => Set(names).Contains(name);

    /// <summary>Throws <see cref="UnknownHookException"/> unless <paramref name="name"/> is a hook point.</summary>
    public static void Check(this HookNames names, string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!names.Contains(name)) throw new UnknownHookException(name, names.Closest(name));
    }

    /// <summary>Checks every name; see <see cref="Check(HookNames, string)"/>.</summary>
    public static void CheckAll(this HookNames names, IEnumerable<string> hookNames)
    {
        foreach (var n in hookNames) names.Check(n);
    }

    /// <summary>The <paramref name="count"/> valid names nearest to <paramref name="name"/> (Levenshtein distance, ties in
    /// the model's order), only those within half the name's length.</summary>
    public static IReadOnlyList<string> Closest(this HookNames names, string name, int count = 3)
    {
        int limit = Math.Max(3, name.Length / 2);
        return names.All.Select((n, i) => (Name: n, Index: i, Distance: EditDistance(name, n)))
            .Where(x => x.Distance <= limit)
            .OrderBy(x => x.Distance).ThenBy(x => x.Index)
            .Take(count).Select(x => x.Name).ToList();
    }

    /// <summary>Levenshtein distance (insertions, deletions and substitutions cost 1).</summary>
    internal static int EditDistance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) prev[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
