using System.Buffers;
using System.Text;

namespace SharpLens.IO;

/// <summary>Reading user text files (prompts) strictly: UTF-8 only, with errors that name the file and the byte.</summary>
public static class TextFiles
{
    static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// The text of <paramref name="path"/> read as strict UTF-8: a leading byte-order mark and one final line break
    /// (<c>\n</c> or <c>\r\n</c>, which editors add) are removed; everything else is kept as written.
    /// </summary>
    /// <param name="path">the file</param>
    /// <param name="option">the option that named it (e.g. <c>--clean-file</c>), quoted in messages</param>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) when the file is missing, unreadable, not a regular
    /// file, larger than <see cref="RegularFile.PromptLimitBytes"/> or not valid UTF-8 (the message gives the byte offset of
    /// the first invalid sequence).</exception>
    public static string ReadStrictUtf8(string path, string option)
    {
        // a FIFO or a device would block or never end, a huge file would fill memory: refused before reading
        byte[] bytes = RegularFile.ReadPrompt(path, $"{option} {path}");
        return Decode(bytes, $"{option} {path}");
    }

    /// <summary>Decodes <paramref name="bytes"/> as strict UTF-8 (see <see cref="ReadStrictUtf8"/>).</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) at the first invalid byte, naming <paramref name="what"/>.</exception>
    public static string Decode(ReadOnlySpan<byte> bytes, string what)
    {
        int start = bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0;
        var body = bytes[start..];
        string text;
        try { text = Strict.GetString(body); }
        catch (DecoderFallbackException)
        {
            int offset = start + FirstInvalid(body);
            string near = Convert.ToHexString(bytes.Slice(offset, Math.Min(4, bytes.Length - offset))).ToLowerInvariant();
            throw SharpLensException.Input(
                $"{what}: not valid UTF-8 at byte offset {offset} (bytes {near}…); save the file as UTF-8 and try again");
        }
        if (text.EndsWith("\r\n", StringComparison.Ordinal)) return text[..^2];
        return text.EndsWith('\n') ? text[..^1] : text;
    }

    /// <summary>Offset of the first byte that does not start a valid UTF-8 sequence.</summary>
    static int FirstInvalid(ReadOnlySpan<byte> bytes)
    {
        int i = 0;
        while (i < bytes.Length)
        {
            var status = Rune.DecodeFromUtf8(bytes[i..], out _, out int consumed);
            if (status != OperationStatus.Done) return i;
            i += consumed;
        }
        return bytes.Length;
    }
}
