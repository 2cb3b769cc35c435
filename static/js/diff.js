// What changed between two versions of a message, word by word: the longest common subsequence
// of their words (spaces and line breaks kept as their own tokens), as runs of kept, removed
// and added text.

// Beyond this many token pairs (two bodies of a few thousand words) the table is not worth
// building: the whole body counts as replaced.
const MAX_CELLS = 4_000_000;

export function tokens(text) {
  return text.split(/(\s+)/).filter((token) => token !== "");
}

/** [{type: "same" | "removed" | "added", text}], adjacent runs of one type merged. */
export function wordDiff(before, after) {
  const a = tokens(before);
  const b = tokens(after);
  const runs = [];
  const push = (type, text) => {
    const last = runs[runs.length - 1];
    if (last && last.type === type) last.text += text;
    else runs.push({ type, text });
  };
  // The common start and end need no table.
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start += 1;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA -= 1;
    endB -= 1;
  }
  for (const token of a.slice(0, start)) push("same", token);
  const middleA = a.slice(start, endA);
  const middleB = b.slice(start, endB);
  if ((middleA.length + 1) * (middleB.length + 1) > MAX_CELLS) {
    if (middleA.length) push("removed", middleA.join(""));
    if (middleB.length) push("added", middleB.join(""));
  } else {
    for (const run of lcsRuns(middleA, middleB)) push(run.type, run.text);
  }
  for (const token of a.slice(endA)) push("same", token);
  return runs;
}

function lcsRuns(a, b) {
  const width = b.length + 1;
  // lengths[i * width + j]: the longest common subsequence of a[i:] and b[j:].
  const lengths = new Uint32Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i -= 1) {
    for (let j = b.length - 1; j >= 0; j -= 1) {
      lengths[i * width + j] =
        a[i] === b[j]
          ? lengths[(i + 1) * width + j + 1] + 1
          : Math.max(lengths[(i + 1) * width + j], lengths[i * width + j + 1]);
    }
  }
  const runs = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      runs.push({ type: "same", text: a[i] });
      i += 1;
      j += 1;
    } else if (lengths[(i + 1) * width + j] >= lengths[i * width + j + 1]) {
      runs.push({ type: "removed", text: a[i] });
      i += 1;
    } else {
      runs.push({ type: "added", text: b[j] });
      j += 1;
    }
  }
  for (; i < a.length; i += 1) runs.push({ type: "removed", text: a[i] });
  for (; j < b.length; j += 1) runs.push({ type: "added", text: b[j] });
  return runs;
}

/** The runs as text nodes, <del> and <ins>, each change also said in words for screen readers. */
export function renderDiff(container, runs) {
  const nodes = [];
  for (const run of runs) {
    if (run.type === "same") {
      nodes.push(document.createTextNode(run.text));
      continue;
    }
    const said = document.createElement("span");
    said.className = "visually-hidden";
    said.textContent = run.type === "added" ? "[added: " : "[removed: ";
    const mark = document.createElement(run.type === "added" ? "ins" : "del");
    mark.textContent = run.text;
    const end = document.createElement("span");
    end.className = "visually-hidden";
    end.textContent = "]";
    nodes.push(said, mark, end);
  }
  container.replaceChildren(...nodes);
}
