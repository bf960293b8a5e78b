using System.Text;

namespace SharpLens.Tokenization;

/// <summary>
/// The GPT-2 "byte-level" alphabet used by Hugging Face byte-level BPE vocabularies: every byte 0..255 is
/// shown as one printable character (printable Latin-1 bytes as themselves, the others from U+0100 up,
/// so a space is 'Ġ' and a newline 'Ċ'). Used here only to turn vocabulary strings back into text.
/// </summary>
internal static class ByteLevelAlphabet
{
    /// <summary>Character → byte for the 256 characters of the alphabet; -1 for any other character.</summary>
    static readonly short[] ByteOfChar = BuildCharToByteTable();

    static short[] BuildCharToByteTable()
    {
        var table = new short[0x100 + 256];
        Array.Fill(table, (short)-1);
        int next = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            int ch = printable ? b : 0x100 + next++;
            table[ch] = (short)b;
        }
        return table;
    }

    /// <summary>True when every character of <paramref name="token"/> belongs to the byte-level alphabet.</summary>
    public static bool IsByteLevel(string token)
    {
        foreach (char c in token)
            if (c >= ByteOfChar.Length || ByteOfChar[c] < 0) return false;
        return true;
    }

    /// <summary>Appends the bytes that the byte-level string <paramref name="token"/> stands for. Characters
    /// outside the alphabet (not expected in a byte-level vocabulary) are appended as their own UTF-8.</summary>
    public static void AppendBytes(string token, List<byte> bytes)
    {
        foreach (char c in token)
        {
            if (c < ByteOfChar.Length && ByteOfChar[c] >= 0) bytes.Add((byte)ByteOfChar[c]);
            else AppendUtf8(c.ToString(), bytes);
        }
    }

    /// <summary>Appends the UTF-8 encoding of <paramref name="text"/> (used for added tokens, stored as plain text).</summary>
    public static void AppendUtf8(string text, List<byte> bytes) => bytes.AddRange(Encoding.UTF8.GetBytes(text));

    /// <summary>UTF-8 bytes to text, invalid sequences replaced by U+FFFD (Hugging Face's errors="replace").</summary>
    public static string DecodeUtf8(List<byte> bytes) =>
        Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));

    /// <summary>Character of the alphabet for each byte.</summary>
    static readonly char[] CharOfByte = BuildByteToCharTable();

    static char[] BuildByteToCharTable()
    {
        var table = new char[256];
        for (int c = 0; c < ByteOfChar.Length; c++) if (ByteOfChar[c] >= 0) table[ByteOfChar[c]] = (char)c;
        return table;
    }

    /// <summary>The UTF-8 bytes of <paramref name="text"/> written in the alphabet (the ByteLevel pre-tokenizer).</summary>
    public static string ToByteLevel(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) chars[i] = CharOfByte[bytes[i]];
        return new string(chars);
    }
}
