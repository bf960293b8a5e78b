using System.CommandLine;
using System.Text.Json.Nodes;
using SharpLens.IO;
using SharpLens.Tokenization;
using Spectre.Console;

namespace SharpLens.Cli.Commands;

/// <summary><c>sharplens tokenize [--model DIR] (--text TEXT | --text-file PATH) [--json] [--no-special-tokens]</c>: positions, token
/// texts and ids, with the special tokens (BOS) the tokenizer's post-processor adds unless told not to.</summary>
internal static class TokenizeCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model("model directory or Hub id (only the tokenizer files are read; default: the embedded set-completion demo)");
        var text = CommonOptions.Text("text to tokenize");
        var textFile = CommonOptions.TextFile("text");
        var json = new Option<bool>("--json") { Description = "print {ids, tokens} as JSON" };
        var noSpecial = new Option<bool>("--no-special-tokens") { Description = "leave out the special tokens (BOS) the tokenizer's post-processor adds" };
        var cmd = new Command("tokenize", "Show how a text splits into tokens, with the BOS its tokenizer adds") { model, text, textFile, json, noSpecial };
        cmd.SetAction(p => CliHost.Guard(ct =>
        {
            string input = CliHost.Text(p, text, textFile, required: true)!;
            var tok = HfTokenizer.Load(CliHost.ResolveModel(p.GetValue(model), ct));
            var ids = tok.Encode(input, addSpecialTokens: !p.GetValue(noSpecial)).ToArray();
            if (p.GetValue(json))
            {
                Console.WriteLine(new JsonObject
                {
                    ["ids"] = new JsonArray(ids.Select(i => (JsonNode?)i).ToArray()),
                    ["tokens"] = new JsonArray(ids.Select(i => (JsonNode?)tok.TokenText(i)).ToArray()),
                }.ToJsonString());
                return 0;
            }
            AnsiConsole.Write(TokenTable(tok, ids));
            return 0;
        }));
        return cmd;
    }

    public static Table TokenTable(HfTokenizer tok, int[] ids)
    {
        var t = new Table().AddColumn("pos").AddColumn("token").AddColumn("id");
        for (int i = 0; i < ids.Length; i++) t.AddRow(i.ToString(), Markup.Escape(Visible(tok.TokenText(ids[i]))), ids[i].ToString());
        return t;
    }

    /// <summary>Token text quoted, with line breaks and every other control character escaped (a token comes from the
    /// model's tokenizer.json: an ESC in it must not reach the terminal).</summary>
    public static string Visible(string s) => "'" + UntrustedText.Escape(s) + "'";
}
