// A tiny SQL highlighter: the text is cut into tokens and each becomes a text node (in a span
// with a class for keywords, strings, numbers, comments); nothing is ever parsed as markup.
import { h } from "./dom.js";

const KEYWORDS = new Set(
  `select from where and or not in is null as on join left right inner outer full cross natural
  using group by order having limit offset distinct union all intersect except case when then else
  end with recursive asc desc nulls first last between like ilike similar exists any some insert
  into values update set delete create table view index drop alter add column primary key
  foreign references default true false cast interval over partition window rows range
  preceding following unbounded current row filter within lateral fetch next only returning
  date time timestamp extract epoch`.split(/\s+/),
);

// Tried in order at each position (sticky): the first that matches makes the token.
const RULES = [
  ["comment", /--[^\n]*/y],
  ["comment", /\/\*[\s\S]*?(?:\*\/|$)/y],
  ["string", /'(?:[^']|'')*'?/y],
  ["ident", /"(?:[^"]|"")*"?/y],
  ["number", /(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![\p{L}\p{N}_])/uy],
  ["word", /[\p{L}_][\p{L}\p{N}_$]*/uy],
  ["space", /\s+/y],
  ["punct", /::|<=|>=|<>|!=|\|\||[^\s\p{L}\p{N}_'"]/uy],
];

/** `[[kind, text], …]` covering the whole of `sql`. */
export function tokenize(sql) {
  const text = String(sql ?? "");
  const out = [];
  let i = 0;
  while (i < text.length) {
    let matched = false;
    for (const [kind, re] of RULES) {
      re.lastIndex = i;
      const m = re.exec(text);
      if (m && m[0].length) {
        let k = kind;
        if (kind === "word") {
          if (KEYWORDS.has(m[0].toLowerCase())) k = "keyword";
          else if (/^\s*\(/.test(text.slice(i + m[0].length, i + m[0].length + 8))) k = "function";
        }
        out.push([k, m[0]]);
        i += m[0].length;
        matched = true;
        break;
      }
    }
    if (!matched) {
      out.push(["punct", text[i]]);
      i += 1;
    }
  }
  return out;
}

const CLASSES = {
  keyword: "sql-kw",
  function: "sql-fn",
  string: "sql-str",
  ident: "sql-id",
  number: "sql-num",
  comment: "sql-com",
};

/** A `<pre class="sql">` of highlighted `sql`; extra attributes go on the `<pre>`. */
export function sqlBlock(sql, attrs = {}) {
  const pre = h("pre", { ...attrs, class: `sql ${attrs.class || ""}`.trim() });
  const code = h("code");
  let plain = "";
  const flush = () => {
    if (plain) code.append(document.createTextNode(plain));
    plain = "";
  };
  for (const [kind, text] of tokenize(sql)) {
    const cls = CLASSES[kind];
    if (!cls) {
      plain += text;
      continue;
    }
    flush();
    code.append(h("span", { class: cls, text }));
  }
  flush();
  pre.append(code);
  return pre;
}
