using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace SharpLens.Reports;

/// <summary>One prompt's attention for the viewer: display name, tokens, pattern [layer][head][q·T + k].</summary>
internal sealed record AttentionRun(string Name, string[] Tokens, float[][][] Pattern);

/// <summary>
/// The interactive attention viewer (CircuitsVis' <c>attention_patterns</c>, hand-written: ~120 lines of script, no
/// library): per-head thumbnails as a head picker, the full [q_pos, k_pos] pattern of the chosen head with token labels
/// on both axes, and two token strips — hover a token (in a strip, on an axis or on a cell) to see where it attends (its
/// row) and what attends to it (its column). One colour scale, absolute 0 → 1 (optionally each row scaled to its own
/// maximum), shared by every run shown; runs (clean, corrupted) sit side by side. The data travels inside the fragment
/// as JSON, so the page stays one offline file.
/// </summary>
internal static class AttentionViewer
{
    /// <summary>Sequential stops for attention weights, white (0) → dark red (1); the PNG figures use the same.</summary>
    public static readonly string[] Stops = { "#ffffff", "#fde0c5", "#f4a582", "#d6604d", "#b2182b", "#67001f" };

    /// <summary>The viewer as an HTML fragment (a <c>div.slv</c> with its data); include <see cref="Css"/> and
    /// <see cref="Js"/> once per page.</summary>
    /// <param name="differing">positions where the runs' prompts differ: marked on both axes and in the token strips
    /// (null: where the runs' tokens differ, when they have the same length)</param>
    public static string Fragment(IReadOnlyList<AttentionRun> runs, (int Layer, int Head) select, string title, IEnumerable<int>? differing = null)
    {
        if (runs.Count == 0) throw new ArgumentException("the attention viewer needs at least one run");
        int layers = runs[0].Pattern.Length, heads = layers == 0 ? 0 : runs[0].Pattern[0].Length;
        if (layers == 0 || heads == 0) throw new ArgumentException("the attention pattern has no layer or no head");
        foreach (var r in runs)
        {
            int t = r.Tokens.Length;
            if (r.Pattern.Length != layers || r.Pattern.Any(l => l.Length != heads || l.Any(h => h.Length != t * t)))
                throw new ArgumentException($"the {r.Name} pattern is not [{layers}][{heads}][{t}×{t}] for its {t} tokens");
        }
        var data = new JsonObject
        {
            ["title"] = title,
            ["layers"] = layers,
            ["heads"] = heads,
            ["select"] = new JsonArray(Math.Clamp(select.Layer, 0, layers - 1), Math.Clamp(select.Head, 0, heads - 1)),
            ["stops"] = new JsonArray(Stops.Select(s => (JsonNode?)s).ToArray()),
            ["diff"] = new JsonArray((differing ?? Differing(runs)).Distinct().Order().Select(p => (JsonNode?)p).ToArray()),
            ["runs"] = new JsonArray(runs.Select(r => (JsonNode?)new JsonObject
            {
                ["name"] = r.Name,
                ["tokens"] = new JsonArray(r.Tokens.Select(t => (JsonNode?)ResultsView.Visible(t)).ToArray()),
                // 4 decimals: a weight's colour cannot show more, and the page stays small
                ["pattern"] = new JsonArray(r.Pattern.Select(l => (JsonNode?)new JsonArray(l.Select(h =>
                    (JsonNode?)new JsonArray(h.Select(v => (JsonNode?)(float.IsFinite(v) ? Math.Round(v, 4) : 0)).ToArray())).ToArray())).ToArray()),
            }).ToArray()),
        };
        string json = data.ToJsonString().Replace("<", "\\u003c");
        return $"<div class=\"slv\" data-slv=\"1\"><script type=\"application/json\" class=\"slv-data\">{json}</script>" +
               "<noscript>The attention viewer needs JavaScript.</noscript></div>";
    }

    /// <summary>Positions where two runs of the same length have different tokens.</summary>
    static IEnumerable<int> Differing(IReadOnlyList<AttentionRun> runs) =>
        runs.Count == 2 && runs[0].Tokens.Length == runs[1].Tokens.Length
            ? Enumerable.Range(0, runs[0].Tokens.Length).Where(i => runs[0].Tokens[i] != runs[1].Tokens[i]) : [];

    /// <summary>A whole page around the viewer.</summary>
    public static string Page(string title, string fragment, string pageCss, bool heading = true) =>
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">" +
        $"<title>{ResultsView.H(title)}</title><style>{pageCss}body{{margin:16px 24px;background:#fff}}{Css}</style></head>" +
        $"<body>{(heading ? $"<h1 style=\"font-size:20px\">{ResultsView.H(title)}</h1>" : "")}{fragment}<script>{Js}</script></body></html>\n";

    /// <summary>Converts a [layer][head, q, k] pattern (rank 3 per layer, or a rank 4 tensor) into the viewer's layout.</summary>
    public static float[][][] Split(float[] data, int layers, int heads, int t)
    {
        if (data.Length != (long)layers * heads * t * t)
            throw new ArgumentException($"the pattern has {data.Length} values, not {layers}×{heads}×{t}×{t} for {t} tokens");
        return Enumerable.Range(0, layers).Select(l => Enumerable.Range(0, heads)
            .Select(h => data.AsSpan(((l * heads) + h) * t * t, t * t).ToArray()).ToArray()).ToArray();
    }

    internal static string I(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    public const string Css = """
.slv{font-size:13px;margin:6px 0 14px}.slv-bar{display:flex;flex-wrap:wrap;gap:6px 18px;align-items:center;margin:4px 0 8px}
.slv-sel{font-weight:700;font-size:15px;color:#1f2a44;min-width:60px}.slv-leg{display:flex;align-items:center;gap:5px;color:#4b5563}
.slv-grad{width:160px;height:12px;border:1px solid #d0d4da}.slv-thumbs{display:flex;flex-direction:column;gap:3px;margin:4px 0 10px;max-height:340px;overflow:auto}
.slv-trow{display:flex;gap:3px;align-items:center;flex-wrap:wrap}.slv-tl{width:28px;color:#4b5563;font-size:11px}
.slv-thumb{border:2px solid #e3e6eb;background:#fff;padding:1px;border-radius:4px;cursor:pointer;display:flex;flex-direction:column;align-items:center;font:10px "DejaVu Sans",sans-serif;color:#4b5563}
.slv-thumb canvas{width:40px;height:40px;image-rendering:pixelated;display:block}.slv-thumb.on{border-color:#1f2a44;color:#1f2a44;font-weight:700}.slv-thumb:hover{border-color:#f59e0b}
.slv-panels{display:flex;flex-wrap:wrap;gap:12px 28px;align-items:flex-start}.slv-panel{min-width:0;max-width:100%;overflow-x:auto}.slv-panel h4{margin:2px 0 4px;font-size:14px}
.slv svg text{font:11px "DejaVu Sans Mono",ui-monospace,monospace;fill:#1f2328}.slv svg text.hv{font-weight:700;fill:#b45309}
.slv svg rect.r{stroke:#1f2a44;stroke-width:1}.slv svg rect.c{stroke:#f59e0b;stroke-width:1}
.slv-strip{line-height:2.1;margin:2px 0;max-width:640px}.slv-sl{display:inline-block;width:108px;color:#4b5563;font-size:12px}
.slv-tok{white-space:pre;font-family:"DejaVu Sans Mono",ui-monospace,monospace;padding:2px 1px;margin-right:1px;border-radius:3px;border:1px solid #eceef1;cursor:default}
.slv-tok.hv{outline:2px solid #1f2a44}.slv svg text.df{font-weight:700;text-decoration:underline}.slv-tok.df{border-color:#f59e0b;font-weight:700}
""";

    public const string Js = """
(function(){
var NS=(function(){var t=document.createElement('div');t.innerHTML='<svg></svg>';return t.firstChild.namespaceURI;})();   // no URL literal in the page
function el(t,c,p,x){var e=document.createElement(t);if(c)e.className=c;if(p)p.appendChild(e);if(x!=null)e.textContent=x;return e;}
function sv(t,a,p){var e=document.createElementNS(NS,t);for(var k in a)e.setAttribute(k,a[k]);if(p)p.appendChild(e);return e;}
function hex(h){return [parseInt(h.substr(1,2),16),parseInt(h.substr(3,2),16),parseInt(h.substr(5,2),16)];}
function init(root){
  if(root.getAttribute('data-ready'))return;root.setAttribute('data-ready','1');
  var d=JSON.parse(root.querySelector('script.slv-data').textContent),S=d.stops.map(hex);
  function col(v){var t=Math.max(0,Math.min(1,v))*(S.length-1),i=Math.min(Math.floor(t),S.length-2),f=t-i,a=S[i],b=S[i+1];
    return [a[0]+(b[0]-a[0])*f,a[1]+(b[1]-a[1])*f,a[2]+(b[2]-a[2])*f];}
  function css(c){return 'rgb('+Math.round(c[0])+','+Math.round(c[1])+','+Math.round(c[2])+')';}
  var st={l:d.select[0],h:d.select[1],hover:-1,perRow:false},df={};(d.diff||[]).forEach(function(i){df[i]=1;});
  var bar=el('div','slv-bar',root),sel=el('span','slv-sel',bar);
  var lab=el('label',null,bar),cb=el('input',null,lab);cb.type='checkbox';cb.className='slv-perrow';lab.appendChild(document.createTextNode(' scale each row to its maximum'));
  var leg=el('span','slv-leg',bar);el('span',null,leg,'attention 0');var g=el('span','slv-grad',leg);var legHi=el('span',null,leg,'1');
  g.style.background='linear-gradient(to right,'+d.stops.join(',')+')';
  el('span','slv-help',bar,'hover a token: its row (where it attends) and its column (what attends to it)');
  var thumbs=el('div','slv-thumbs',root),btn=[];
  var r0=d.runs[0],T0=r0.tokens.length;
  for(var l=0;l<d.layers;l++){var row=el('div','slv-trow',thumbs);el('span','slv-tl',row,'L'+l);
    for(var h=0;h<d.heads;h++){(function(l,h){
      var b=el('button','slv-thumb',row);b.type='button';b.setAttribute('data-head','L'+l+'H'+h);b.title='L'+l+'H'+h+' ('+r0.name+')';
      var c=el('canvas',null,b);c.width=T0;c.height=T0;var x=c.getContext('2d'),im=x.createImageData(T0,T0),p=r0.pattern[l][h];
      for(var i=0;i<T0*T0;i++){var q=Math.floor(i/T0),k=i%T0,cc=k>q?[243,244,246]:col(p[i]);im.data[4*i]=cc[0];im.data[4*i+1]=cc[1];im.data[4*i+2]=cc[2];im.data[4*i+3]=255;}
      x.putImageData(im,0,0);el('span',null,b,'L'+l+'H'+h);
      b.addEventListener('click',function(){st.l=l;st.h=h;draw();});btn.push(b);})(l,h);}}
  var panels=el('div','slv-panels',root);
  var views=d.runs.map(function(r,ri){
    var T=r.tokens.length,p=el('div','slv-panel',panels);p.setAttribute('data-run',r.name);el('h4',null,p,r.name);
    var cs=Math.max(7,Math.min(22,Math.floor(460/T))),ml=0;r.tokens.forEach(function(t){ml=Math.max(ml,Math.min(t.length,14));});
    var left=14+7*ml+20,top=14+7*ml,W=left+cs*T+6,H=top+cs*T+22;
    p.style.width=Math.max(W,300)+'px';   // the token strips wrap within the matrix's width, so two runs fit side by side
    var s=sv('svg',{width:W,height:H,viewBox:'0 0 '+W+' '+H,'class':'slv-mat'},p),cells=[],qt=[],kt=[];
    for(var q=0;q<T;q++)for(var k=0;k<T;k++){var c=sv('rect',{x:left+k*cs,y:top+q*cs,width:cs,height:cs,'data-q':q,'data-k':k},s);cells.push(c);}
    for(var i=0;i<T;i++){var lb=r.tokens[i].length>14?r.tokens[i].slice(0,13)+'…':r.tokens[i];
      var a=sv('text',{x:left-4,y:top+i*cs+cs/2+4,'text-anchor':'end','data-pos':i},s);a.textContent=lb+' '+i;qt.push(a);
      var b=sv('text',{transform:'translate('+(left+i*cs+cs/2+4)+','+(top-4)+') rotate(-60)','data-pos':i},s);b.textContent=i+' '+lb;kt.push(b);}
    var ax=sv('text',{x:left,y:H-6},s);ax.textContent='rows: query (destination) · columns: key (source)';
    function strip(label,cls){var d2=el('div','slv-strip '+cls,p);el('span','slv-sl',d2,label);
      return r.tokens.map(function(t,i){var e=el('span','slv-tok'+(df[i]?' df':''),d2,t);e.setAttribute('data-pos',i);return e;});}
    var to=strip('attends to:','slv-to'),from=strip('attended by:','slv-from');
    p.addEventListener('mouseover',function(e){var t=e.target.closest('[data-pos],[data-q]');if(!t)return;
      st.hover=+(t.getAttribute('data-pos')!=null?t.getAttribute('data-pos'):t.getAttribute('data-q'));draw();});
    p.addEventListener('mouseleave',function(){st.hover=-1;draw();});
    return {r:r,T:T,cells:cells,qt:qt,kt:kt,to:to,from:from};
  });
  function paint(e,v){var c=col(v);e.style.background=css(c);e.style.color=(.299*c[0]+.587*c[1]+.114*c[2])<120?'#fff':'';}
  function draw(){
    var name='L'+st.l+'H'+st.h;sel.textContent=name;root.setAttribute('data-selected',name);root.setAttribute('data-hover',String(st.hover));
    legHi.textContent=st.perRow?'row max':'1';
    btn.forEach(function(b){b.classList.toggle('on',b.getAttribute('data-head')===name);});
    views.forEach(function(v){
      var p=v.r.pattern[st.l][st.h],T=v.T,hv=st.hover<T?st.hover:-1;
      for(var q=0;q<T;q++){var m=1;if(st.perRow){m=1e-9;for(var k=0;k<=q;k++)m=Math.max(m,p[q*T+k]);}
        for(var k=0;k<T;k++){var c=v.cells[q*T+k],x=p[q*T+k];c.setAttribute('fill',k>q?'#f3f4f6':css(col(x/m)));
          c.setAttribute('data-v',x);c.setAttribute('class',(q===hv?'r':'')+(k===hv?' c':''));
          c.setAttribute('data-tip','query '+q+' “'+v.r.tokens[q]+'” → key '+k+' “'+v.r.tokens[k]+'”: '+x.toFixed(4));}}
      for(var i=0;i<T;i++){var tc=(i===hv?'hv':'')+(df[i]?' df':'');v.qt[i].setAttribute('class',tc);v.kt[i].setAttribute('class',tc);
        var mr=1,mc=1;if(st.perRow&&hv>=0){mr=1e-9;for(var k=0;k<=hv;k++)mr=Math.max(mr,p[hv*T+k]);mc=1e-9;for(var q=hv;q<T;q++)mc=Math.max(mc,p[q*T+hv]);}
        var a=hv<0?0:p[hv*T+i],b=hv<0?0:p[i*T+hv];
        paint(v.to[i],a/mr);v.to[i].setAttribute('data-v',a.toFixed(4));v.to[i].classList.toggle('hv',i===hv);
        paint(v.from[i],b/mc);v.from[i].setAttribute('data-v',b.toFixed(4));v.from[i].classList.toggle('hv',i===hv);
        v.to[i].title=hv<0?'':'“'+v.r.tokens[hv]+'” → “'+v.r.tokens[i]+'”: '+a.toFixed(4);
        v.from[i].title=hv<0?'':'“'+v.r.tokens[i]+'” → “'+v.r.tokens[hv]+'”: '+b.toFixed(4);}
    });
  }
  cb.addEventListener('change',function(){st.perRow=cb.checked;draw();});
  draw();
}
function all(){document.querySelectorAll('div.slv[data-slv]').forEach(init);}
if(document.readyState==='loading')document.addEventListener('DOMContentLoaded',all);else all();
})();
""";
}
