using System.Text;

namespace SharpLens.Tokenization;

/// <summary>
/// Unicode Normalization Form C (canonical decomposition, canonical ordering, canonical composition,
/// UAX #15), done in managed code from <see cref="UnicodeNfcData"/>. The project runs with
/// <c>InvariantGlobalization</c>, where <see cref="string.Normalize()"/> leaves non-ASCII text unchanged,
/// so Hugging Face's NFC normalizer cannot be reproduced with it.
/// </summary>
internal static class UnicodeNfc
{
    const int HangulSyllableFirst = 0xAC00, HangulLeadFirst = 0x1100, HangulVowelFirst = 0x1161, HangulTrailFirst = 0x11A7;
    const int HangulLeadCount = 19, HangulVowelCount = 21, HangulTrailCount = 28;
    const int HangulVowelTrailCount = HangulVowelCount * HangulTrailCount, HangulSyllableCount = HangulLeadCount * HangulVowelTrailCount;

    /// <summary>No code point below this one has a decomposition or combines with a previous one.</summary>
    const char FirstCombiningCodePoint = '\u0300';

    static readonly Dictionary<int, int> CombiningClassOf = BuildCombiningClasses();
    static readonly Dictionary<int, int[]> DecompositionOf = BuildDecompositions();
    static readonly Dictionary<long, int> CompositeOf = BuildCompositions();

    /// <summary>The NFC form of <paramref name="text"/>. Unpaired surrogates are kept as they are.</summary>
    public static string Normalize(string text)
    {
        if (IsTriviallyNormalized(text)) return text;
        var codePoints = new List<int>(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            int codePoint = text[i];
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                codePoint = char.ConvertToUtf32(text[i], text[++i]);
            AppendDecomposition(codePoint, codePoints);
        }
        SortCombiningMarks(codePoints);
        Compose(codePoints);
        var result = new StringBuilder(text.Length);
        foreach (int codePoint in codePoints)
        {
            if (codePoint is >= 0xD800 and < 0xE000) result.Append((char)codePoint); // unpaired surrogate
            else result.Append(char.ConvertFromUtf32(codePoint));
        }
        return result.ToString();
    }

    static bool IsTriviallyNormalized(string text)
    {
        foreach (char c in text)
            if (c >= FirstCombiningCodePoint) return false;
        return true;
    }

    static void AppendDecomposition(int codePoint, List<int> output)
    {
        int syllableIndex = codePoint - HangulSyllableFirst;
        if (syllableIndex is >= 0 and < HangulSyllableCount)
        {
            output.Add(HangulLeadFirst + syllableIndex / HangulVowelTrailCount);
            output.Add(HangulVowelFirst + syllableIndex % HangulVowelTrailCount / HangulTrailCount);
            int trail = syllableIndex % HangulTrailCount;
            if (trail != 0) output.Add(HangulTrailFirst + trail);
        }
        else if (DecompositionOf.TryGetValue(codePoint, out var decomposition)) output.AddRange(decomposition);
        else output.Add(codePoint);
    }

    static int CombiningClass(int codePoint) => CombiningClassOf.GetValueOrDefault(codePoint);

    /// <summary>Canonical ordering: a stable sort by combining class of each run of non-starters.</summary>
    static void SortCombiningMarks(List<int> codePoints)
    {
        for (int i = 1; i < codePoints.Count; i++)
        {
            int current = codePoints[i], currentClass = CombiningClass(current);
            if (currentClass == 0) continue;
            int j = i;
            while (j > 0 && CombiningClass(codePoints[j - 1]) > currentClass)
            {
                codePoints[j] = codePoints[j - 1];
                j--;
            }
            codePoints[j] = current;
        }
    }

    /// <summary>Canonical composition: each mark not blocked from the last starter combines with it when it can.</summary>
    static void Compose(List<int> codePoints)
    {
        if (codePoints.Count == 0) return;
        int starterIndex = 0, lastClass = CombiningClass(codePoints[0]) == 0 ? 0 : 256, kept = 1;
        for (int i = 1; i < codePoints.Count; i++)
        {
            int codePoint = codePoints[i], combiningClass = CombiningClass(codePoint);
            bool notBlocked = lastClass < combiningClass || lastClass == 0;
            if (notBlocked && TryCompose(codePoints[starterIndex], codePoint, out int composite))
            {
                codePoints[starterIndex] = composite;
                continue;
            }
            if (combiningClass == 0) starterIndex = kept;
            lastClass = combiningClass;
            codePoints[kept++] = codePoint;
        }
        codePoints.RemoveRange(kept, codePoints.Count - kept);
    }

    static bool TryCompose(int first, int second, out int composite)
    {
        int leadIndex = first - HangulLeadFirst, vowelIndex = second - HangulVowelFirst;
        if (leadIndex is >= 0 and < HangulLeadCount && vowelIndex is >= 0 and < HangulVowelCount)
        {
            composite = HangulSyllableFirst + (leadIndex * HangulVowelCount + vowelIndex) * HangulTrailCount;
            return true;
        }
        int syllableIndex = first - HangulSyllableFirst, trailIndex = second - HangulTrailFirst;
        if (syllableIndex is >= 0 and < HangulSyllableCount && syllableIndex % HangulTrailCount == 0 &&
            trailIndex is > 0 and < HangulTrailCount)
        {
            composite = first + trailIndex;
            return true;
        }
        return CompositeOf.TryGetValue(((long)first << 21) | (uint)second, out composite);
    }

    static Dictionary<int, int> BuildCombiningClasses()
    {
        var table = new Dictionary<int, int>();
        var ranges = UnicodeNfcData.CombiningClassRanges;
        for (int i = 0; i < ranges.Length; i += 3)
            for (int codePoint = ranges[i]; codePoint <= ranges[i + 1]; codePoint++) table[codePoint] = ranges[i + 2];
        return table;
    }

    static Dictionary<int, int[]> BuildDecompositions()
    {
        var table = new Dictionary<int, int[]>();
        var data = UnicodeNfcData.Decompositions;
        for (int i = 0; i < data.Length; i += 2 + data[i + 1])
            table[data[i]] = data.AsSpan(i + 2, data[i + 1]).ToArray();
        return table;
    }

    static Dictionary<long, int> BuildCompositions()
    {
        var table = new Dictionary<long, int>();
        var data = UnicodeNfcData.Compositions;
        for (int i = 0; i < data.Length; i += 3) table[((long)data[i] << 21) | (uint)data[i + 1]] = data[i + 2];
        return table;
    }
}
