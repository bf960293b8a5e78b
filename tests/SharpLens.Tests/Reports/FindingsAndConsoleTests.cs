using System.Text.Json.Nodes;
using SharpLens.Cli;
using SharpLens.Reports;
using Spectre.Console;

namespace SharpLens.Tests.Reports;

/// <summary>The findings summary (<see cref="StudyFindings"/>) and the study console at 80 columns.</summary>
public class FindingsAndConsoleTests
{
    [Fact]
    public void Findings_are_sentences_generated_from_the_numbers_each_linked_to_a_section()
    {
        var r = ReportInput.Build();
        var f = StudyFindings.Of(r);
        double c = (double)r["clean_logit_diff"]!, k = (double)r["corrupted_logit_diff"]!;
        Assert.Contains(f, x => x.Anchor == "baselines" && x.Text.Contains($"+{c:0.00} on the clean prompt") && x.Text.Contains($"−{-k:0.00} on the corrupted one"));
        var heads = Assert.Single(f, x => x.Anchor == "heads");
        Assert.Matches(@"^Top heads: L\dH\d: patching recovers \d\.\d\d", heads.Text);
        Assert.Contains(f, x => x.Anchor == "resid" && x.Text.Contains("strongest layer and position"));
        Assert.Contains(f, x => x.Anchor == "head-pair");
        Assert.All(f, x => Assert.Contains(x.Anchor, new[] { "baselines", "resid", "attn-mlp", "heads", "head-inputs", "path", "logit-lens", "head-pair", "control" }));

        // the control's verdict follows its numbers
        string Verdict(double scale)
        {
            var m = ReportInput.Build();
            m["control_resid_pre_patch_last_recovery"] = new JsonArray(m["control_resid_pre_patch_last_recovery"]!.AsArray().Select(x => (JsonNode?)((double)x! * scale)).ToArray());
            return StudyFindings.Of(m).Single(x => x.Anchor == "control").Text;
        }
        Assert.Contains("specific to the clean prompt", Verdict(0.01));
        Assert.Contains("destroying the corrupted answer", Verdict(1));
        // without noising, a head whose ablation keeps little of the clean logit diff is called needed
        var n = ReportInput.Build();
        n.Remove("noise_head_z_all_fraction");
        var top = n["top_heads"]![0]!.AsArray();
        n["zero_ablate_head_clean_fraction"]![(int)top[0]!]![(int)top[1]!] = 0.25;
        Assert.Contains($"L{(int)top[0]!}H{(int)top[1]!}: patching recovers", StudyFindings.Of(n).Single(x => x.Anchor == "heads").Text);
        Assert.Contains("keeps 0.25 of the logit diff — needed", StudyFindings.Of(n).Single(x => x.Anchor == "heads").Text);
        Assert.Empty(StudyFindings.Of(new JsonObject()));
    }

    [Fact]
    public void A_real_study_at_COLUMNS_80_fits_and_lists_what_it_wrote_on_one_line()
    {
        string cwd = Support.Fixtures.TempDir("console80");
        var r = Support.CliProcess.Run(["study", "--model", Support.Fixtures.Dir("tiny-qwen2"), "--out", "out"], new Dictionary<string, string> { ["COLUMNS"] = "80" }, cwd);
        Assert.True(r.Code == 0, r.Err);
        var lines = r.Out.Split('\n');
        Assert.All(lines, l => Assert.True(l.TrimEnd().Length <= 80, $"{l.TrimEnd().Length} columns: {l}"));
        Assert.Contains("Findings", r.Out);
        Assert.Matches(@"L\dH\d \+ L\dH\d", r.Out);                                        // head pairs are shown
        var wrote = Assert.Single(lines, l => l.StartsWith("wrote ", StringComparison.Ordinal));
        Assert.Matches(@"^wrote out/: results\.json, report\.html, figures/ \(\d+ PNG\)$", wrote.TrimEnd());   // named relative to the working directory
    }

    static (string text, IAnsiConsole console) Console80(StringWriter sw)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No, Out = new AnsiConsoleOutput(sw),
        });
        console.Profile.Width = 80;
        return ("", console);
    }

    [Fact]
    public void Study_console_fits_80_columns_folds_wide_grids_shows_head_pairs_and_one_written_line()
    {
        var r = ReportInput.Build();
        // a 105-token prompt: 80 more positions that no layer moves (one character a cell would still be 111 columns)
        var resid = r["resid_pre_patch_recovery"]!.AsArray();
        foreach (var row in resid) for (int i = 0; i < 80; i++) row!.AsArray().Insert(0, 0.0);
        var toks = r["token_strings"]!["clean"]!.AsArray();
        for (int i = 0; i < 80; i++) toks.Insert(0, " pad");
        r["differing_positions"] = new JsonArray(r["differing_positions"]!.AsArray().Select(x => (JsonNode?)((int)x! + 80)).ToArray());
        var sw = new StringWriter();
        var (_, console) = Console80(sw);
        var sc = new StudyConsole(console);
        sc.Summary(r);
        sc.Written(["/tmp/out/results.json", "/tmp/out/report.html", "/tmp/out/figures/a.png", "/tmp/out/figures/b.png"]);
        string text = sw.ToString();
        var lines = text.Split('\n');
        Assert.All(lines, l => Assert.True(l.TrimEnd().Length <= 80, $"{l.TrimEnd().Length} columns: {l}"));
        Assert.Contains("Findings", text);
        Assert.Matches(@"• Top heads: L\dH\d", text);
        Assert.Matches(@"positions folded \(no layer recovers 0.05\); shown: .*98", text);   // the differing position (18 + 80) kept
        Assert.Matches(@"L1H\d \+ L1H\d", text);                                              // head pairs are shown
        Assert.DoesNotContain("see results.json", text);
        Assert.Single(lines, l => l.StartsWith("wrote "));
        Assert.Contains("wrote /tmp/out/: results.json, report.html, figures/ (2 PNG)", text);
    }
}
