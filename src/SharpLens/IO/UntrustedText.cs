using System.Globalization;
using System.Text;

namespace SharpLens.IO;

/// <summary>
/// Text that came from a model file or the network (tensor names, tokens, config values, HTTP headers) made safe to
/// print: a terminal obeys escape sequences, so an ESC in a tensor name could recolour, rewrite or retitle it.
/// Control characters become visible escapes (<c>\x1b</c>, <c>\n</c>, <c>\u202e</c>); everything else is unchanged.
/// Backslashes are left alone, so escaping twice changes nothing.
/// </summary>
public static class UntrustedText
{
    /// <summary>How much of a name a message quotes (a hostile header can hold a 2 MB tensor name).</summary>
    public const int MaxQuotedChars = 200;

    /// <summary>
    /// <paramref name="text"/> with every character a terminal may act on written as an escape: C0 and C1 controls and
    /// DEL (<c>\x1b</c>; <c>\n</c>, <c>\r</c>, <c>\t</c> by name), invisible formatting characters such as bidirectional
    /// overrides and line separators (<c>\u202e</c>), and unpaired surrogates. Returns the same string when nothing needs
    /// escaping (no allocation: the common case).
    /// </summary>
    public static string Escape(string? text)
    {
        if (string.IsNullOrEmpty(text)) return text ?? "";
        int first = FirstUnsafe(text);
        if (first < 0) return text;
        var sb = new StringBuilder(text.Length + 16);
        sb.Append(text, 0, first);
        for (int i = first; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                int cp = char.ConvertToUtf32(c, text[i + 1]);
                if (IsUnsafe(cp)) sb.Append(CultureInfo.InvariantCulture, $"\\U{cp:x8}");
                else sb.Append(c).Append(text[i + 1]);
                i++;
                continue;
            }
            if (!IsUnsafe(c)) { sb.Append(c); continue; }
            sb.Append(c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                < '\u0100' => $"\\x{(int)c:x2}",
                _ => $"\\u{(int)c:x4}",
            });
        }
        return sb.ToString();
    }

    /// <summary><see cref="Escape"/>d and cut to about <paramref name="maxChars"/> characters, saying how much was left out:
    /// for names and values quoted in messages.</summary>
    public static string Quote(string? text, int maxChars = MaxQuotedChars)
    {
        text ??= "";
        if (text.Length > maxChars)
        {
            int keep = maxChars;
            if (keep > 0 && char.IsHighSurrogate(text[keep - 1])) keep--; // never cut a pair in half
            return Escape(text[..keep]) + $"…(+{text.Length - keep} characters)";
        }
        return Escape(text);
    }

    static int FirstUnsafe(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c >= ' ' && c < '\u007f') continue; // ASCII printable: the fast path
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                if (IsUnsafe(char.ConvertToUtf32(c, text[i + 1]))) return i;
                i++;
                continue;
            }
            if (IsUnsafe(c)) return i;
        }
        return -1;
    }

    static bool IsUnsafe(int codePoint)
    {
        if (codePoint < 0x20 || codePoint is >= 0x7f and <= 0x9f) return true;
        if (codePoint is >= 0xD800 and <= 0xDFFF) return true; // an unpaired surrogate
        return CharUnicodeInfo.GetUnicodeCategory(codePoint) is UnicodeCategory.Format or UnicodeCategory.LineSeparator
            or UnicodeCategory.ParagraphSeparator or UnicodeCategory.Control;
    }
}
