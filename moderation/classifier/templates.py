"""Generated TRAINING cases: identity terms x sentence frames, spelling variants, term swaps.

Plain fine-tuning on tweets learns that identity words are toxic and cannot tell hate from
its functional neighbours (negation, counter-speech, reclaimed terms, neutral statements
about groups, abuse aimed at objects). These cases teach those distinctions.

Everything here is for training only. The functional TEST suite (`functional.py`) uses
other frames and mostly other identity terms, so that passing it is not memorisation; keep
the two apart when editing either.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Identity:
    adj: str  # "Muslim", as in "a Muslim woman"
    plural: str  # "Muslims"
    group: str  # religion, ethnicity, ...


def _ids(group: str, pairs: Sequence[tuple[str, str]]) -> list[Identity]:
    return [Identity(a, p, group) for a, p in pairs]


TRAIN_IDENTITIES: tuple[Identity, ...] = tuple(
    _ids(
        "religion",
        [
            ("Muslim", "Muslims"),
            ("Jewish", "Jews"),
            ("Christian", "Christians"),
            ("Catholic", "Catholics"),
            ("atheist", "atheists"),
            ("Buddhist", "Buddhists"),
            ("Protestant", "Protestants"),
        ],
    )
    + _ids(
        "nationality",
        [
            ("Israeli", "Israelis"),
            ("Palestinian", "Palestinians"),
            ("Mexican", "Mexicans"),
            ("Chinese", "Chinese people"),
            ("Russian", "Russians"),
            ("Ukrainian", "Ukrainians"),
            ("American", "Americans"),
            ("Iranian", "Iranians"),
            ("Polish", "Poles"),
            ("Indian", "Indians"),
        ],
    )
    + _ids(
        "ethnicity",
        [
            ("Black", "Black people"),
            ("white", "white people"),
            ("Asian", "Asians"),
            ("Arab", "Arabs"),
            ("Hispanic", "Hispanics"),
            ("African", "Africans"),
            ("Latino", "Latinos"),
        ],
    )
    + _ids(
        "sexuality",
        [
            ("gay", "gay people"),
            ("lesbian", "lesbians"),
            ("straight", "straight people"),
            ("homosexual", "homosexuals"),
        ],
    )
    + _ids(
        "gender",
        [
            ("female", "women"),
            ("male", "men"),
            ("trans", "trans people"),
            ("transgender", "transgender people"),
        ],
    )
    + _ids(
        "other",
        [
            ("immigrant", "immigrants"),
            ("refugee", "refugees"),
            ("disabled", "disabled people"),
            ("blind", "blind people"),
            ("elderly", "elderly people"),
            ("young", "young people"),
        ],
    )
)

NAMES = ("Sam", "Maria", "Ahmed", "Lena", "David", "Mei", "Oluwaseun", "Tom", "Yusuf", "Sarah")

# Frames: {A} = adjective form, {P} = plural noun, {N} = a first name.
HATE_FRAMES = (
    "{P} are disgusting animals.",
    "All {P} are vermin and should be treated like it.",
    "I can't stand {P}, they ruin everything they touch.",
    "{P} are a plague on this country.",
    "Get these filthy {P} out of our neighbourhood.",
    "{P} are too stupid to think for themselves.",
    "Never trust a {A} person, they are all liars and thieves.",
    "{P} are subhuman trash.",
    "Typical {A} scum, always causing trouble.",
    "The world would be better without {P}.",
    "{P} should not be allowed to vote or hold jobs.",
    "I hate {P} so much, every single one of them.",
    "{P} are parasites living off the rest of us.",
    "No {A} person deserves any respect.",
    "Honestly {P} are a disease.",
)
# Dehumanising comparisons and implicit hate (no slur, no swear word): the hardest cases
# for a model trained on tweets, where toxicity mostly comes with profanity.
DEHUMANISING_FRAMES = (
    "{P} are insects.",
    "{P} are a virus spreading through our towns.",
    "{P} are filthy dogs.",
    "{P} are a swarm that has to be stopped.",
    "{P} are nothing but a cancer.",
    "{P} are monkeys pretending to be people.",
    "Those {P} are beasts, not men.",
)
IMPLICIT_FRAMES = (
    "Send the {P} back, we don't want them here.",
    "{P} should go back to where they came from.",
    "Keep {P} away from our children.",
    "Funny how crime went up right when the {P} arrived.",
    "{P} breed like rabbits and take our jobs.",
    "Hiring a {A} person is asking for trouble.",
    "Wherever {P} go, disease and crime follow.",
    "A {A} neighbour? Time to sell the house.",
    "Our schools were fine until the {P} came.",
    "{P} can't be trusted with anything important.",
)
DEROGATION_FRAMES = (
    "I loathe {P}.",
    "{P} are the worst people on earth.",
    "{A} people are all cheats and frauds.",
    "{P} are so gross, I can't even look at them.",
    "Every {A} person is lazy and dishonest.",
    "{P} are repulsive.",
    "Nothing good has ever come from {P}.",
)
THREAT_FRAMES = (
    "I will kill every {A} person I see.",
    "Someone should shoot all the {P}.",
    "{P} deserve to be hanged, every last one.",
    "I'm going to beat up the next {A} guy who talks to me.",
    "We should round up the {P} and get rid of them for good.",
    "Watch your back, {A} scum, we know where you live.",
)
# Insults aimed at one person who happens to be described by identity: toxic, but whether
# it is an identity attack is ambiguous, so that label stays masked.
PERSON_INSULT_FRAMES = (
    "My {A} neighbour is a worthless idiot.",
    "{N}, that {A} moron at work, is a pathetic loser.",
    "That {A} lady on the bus was a stupid cow.",
    "You are a brainless {A} clown.",
)
PLAIN_INSULTS = (
    "You are a pathetic idiot.",
    "Shut up, you worthless moron.",
    "{N} is the dumbest person I have ever met, a total imbecile.",
    "Nobody cares what you think, you clueless fool.",
    "You're a disgusting pig and everyone knows it.",
    "What a braindead take, you absolute clown.",
    "Go away, loser, nobody wants you here.",
    "You are such an ignorant jerk.",
)
PLAIN_THREATS = (
    "I will find you and break your legs.",
    "Keep talking and I'll put a bullet in your head.",
    "{N}, I know where you live and I'm coming for you.",
    "You'd better sleep with one eye open, I'll hurt you.",
)
NEGATED_FRAMES = (
    "I don't hate {P} at all.",
    "{P} are not vermin, they are people like anyone else.",
    "It is wrong to say that {P} are a plague.",
    "I would never say {P} are stupid.",
    "{P} are not the problem here.",
    "There is nothing disgusting about being {A}.",
    "No, {P} are not criminals.",
    "I have never thought {P} are inferior.",
    "{P} are not insects, they are human beings.",
    "It is a lie that crime went up when {P} arrived.",
    "Nobody should tell {P} to go back where they came from.",
    "{P} are not a virus, and saying so is dangerous.",
    "I don't loathe {P}, I just disagree with their politicians.",
)
COUNTER_FRAMES = (
    "Saying '{P} are animals' is pure bigotry and I reject it.",
    "If you think all {P} are criminals, you need to meet more people.",
    "Stop posting that {P} are vermin, it is hateful nonsense.",
    "People who call {P} parasites should be ashamed of themselves.",
    'He wrote "{P} are subhuman" and got banned, good riddance.',
    "Calling {P} a disease is exactly the kind of hate we must stand against.",
    "I'm sick of seeing comments like '{A} people are trash'. It is disgusting.",
)
NEUTRAL_FRAMES = (
    "I am {A}.",
    "My neighbours are {A}.",
    "{P} live all over the world.",
    "The {A} community centre opened a new library.",
    "{N} is {A} and works as a nurse.",
    "Many {P} celebrated the holiday this weekend.",
    "I met two {A} students at the conference.",
    "The article interviews several {P} about the election.",
    "{N} grew up in a {A} family.",
    "What do {P} think about the new policy?",
    "The report counts how many {P} live in the city.",
    "My {A} colleague recommended this book.",
    "The {A} children's choir sang at the school.",
    "Several {P} went back home for the holidays.",
    "Crime statistics for the district do not record whether residents are {A}.",
    "{A} families arrived in the city in the 1990s.",
)
POSITIVE_FRAMES = (
    "{P} are wonderful people.",
    "I love my {A} friends.",
    "Proud to be {A}!",
    "{A} people have enriched our city in so many ways.",
    "{N} is a kind and generous {A} woman.",
    "Thank you to all the {P} who volunteered today.",
    "{P} deserve the same respect as everyone.",
    "My {A} teacher was the best I ever had.",
)
# Abuse aimed at things, not people: not an identity attack and not toxic.
OBJECT_FRAMES = (
    "I hate this stupid printer.",
    "This phone is absolute garbage.",
    "Worst movie ever, total trash.",
    "This weather is disgusting.",
    "The update ruined the app, what a useless pile of junk.",
    "I can't stand cauliflower, it is vile.",
    "These traffic lights are the dumbest design in history.",
    "My laptop is a worthless brick.",
    "The new stadium is an ugly monstrosity.",
    "This queue is a nightmare.",
)
# Reclaimed terms, used by the group about itself.
RECLAIMED = (
    "As a queer woman I loved this film.",
    "Us queers have been organising this march for years.",
    "I'm a proud dyke and I'm not going anywhere.",
    "Queer folks, this meetup is for you.",
    "My fellow dykes on bikes will lead the parade.",
)

# Second round (issue 12): what hides. Implicit and dehumanising hate without a hostile
# word, hate phrased as a question or an opinion, counter-speech that quotes or reports
# hate, negated hate, slur homonyms and spelled-out insults. None of these sentences is in
# the functional test suite; its frames and identity terms stay held out.
IMPLICIT_FRAMES_2 = (
    "I'm not racist, but {P} just aren't like us.",
    "{P} have no place in a civilised country.",
    "We let the {P} in and now look at the state of things.",
    "You can always tell when {P} have moved in, the whole street changes.",
    "{P} should be grateful we even let them live here.",
    "Before the {P} came, you could leave your door unlocked.",
    "A {A} mayor? What's next, letting children run the country?",
    "{P} are only good for cleaning toilets.",
    "{P} need to learn their place.",
    "Ship the {P} out and the problem solves itself.",
    "Property prices always drop when {P} move in. Just saying.",
    "{P} will never be real citizens, whatever their passport says.",
)
DEHUMANISING_FRAMES_2 = (
    "{P} multiply like vermin.",
    "{P} are animals and should be kept in pens.",
    "{P} are leeches on society.",
    "Talking to {P} is like talking to apes.",
    "{P} are a weed that has to be pulled out by the roots.",
    "Our city has a {A} infestation.",
)
QUESTION_OPINION_FRAMES = (
    "Why are {P} always so dirty?",
    "Is it just me or are {P} the most useless people on earth?",
    "In my opinion {P} are a danger to decent people.",
    "Honest question: why are {P} so stupid?",
    "Am I the only one who thinks {P} are subhuman?",
    "I think {P} are a burden on everyone around them.",
    "Why do we keep letting {P} into the country?",
)
COUNTER_FRAMES_2 = (
    "Someone in this thread said {P} are animals. That is disgusting and wrong.",
    "'{P} are vermin' is not an opinion, it is hate speech.",
    "My grandfather was told that {P} are rats his whole life. Never again.",
    "Reporting this comment: it calls {P} a plague.",
    "The banner said '{P} out', and the club was right to condemn it.",
    "Anyone who calls {P} subhuman has already lost the argument.",
    "The article quotes a politician who called {P} parasites; he should resign.",
    "Comments like 'send the {P} back' are why {A} kids feel unwelcome.",
    "Calling {P} 'animals' says more about you than about them.",
    "The troll's post claimed {P} are a disease. Please don't share it.",
)
NEGATED_FRAMES_2 = (
    "{P} are not animals and never were.",
    "I refuse to believe that {P} are dangerous.",
    "Nobody here thinks {P} are subhuman.",
    "It's not true that {P} are lazy.",
    "{P} don't deserve any of the hate they get.",
    "Being {A} does not make anyone a criminal.",
)
# Two identities in one ordinary sentence: on real comments an identity word alone should
# never move the score.
MIXED_NEUTRAL_FRAMES = (
    "My {A} grandparents and my {A2} neighbours agree the bus route should stay.",
    "The {A} and {A2} communities organised the food bank together.",
    "{N} has a {A} mother and a {A2} father and speaks three languages.",
    "Both {A} and {A2} families came to the council meeting about the school.",
    "The article quotes {P} and {P2} who live on the same street.",
)
# Words that contain or resemble slurs but are innocent in context.
HOMONYMS = (
    "The Dutch built a dyke to hold back the sea.",
    "Faggots and peas are a traditional pub dinner in the Midlands.",
    "The wood is treated with a fire retardant.",
    "Planes dropped retardant over the wildfire all afternoon.",
    "Her kitchen is always spick and span.",
    "In old English a faggot was a bundle of sticks for the fire.",
    "The sea wall, or dyke, failed during the storm.",
    "The Nazi party came to power in 1933, as the documentary explains.",
    "The coach called the rookie a beast on the field, meaning it as praise.",
    "The word 'queer' once meant simply strange.",
)
RECLAIMED_2 = (
    "The queer film festival sold out again this year.",
    "Our queer book club meets on Thursdays.",
    "Proud queer teacher here, ask me anything.",
    "The dyke march starts at noon at the park.",
)
PLAIN_INSULTS_2 = (
    "You're an idiot.",
    "What an idiot.",
    "Only a moron would write this.",
    "The author is a clueless hack.",
    "You are a complete waste of space.",
    "Shut your mouth, you ignorant fool.",
    "This commenter is a troll and an imbecile.",
    "Grow a brain, you dimwit.",
    "{N} is a spineless coward and a liar.",
)

# Spelling variants used in training. The test suite uses a different perturbation.
_LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "$"}


def _leet(word: str, rng: random.Random) -> str:
    chars = list(word)
    idx = [i for i, c in enumerate(chars) if c.lower() in _LEET]
    for i in rng.sample(idx, k=min(len(idx), rng.randint(1, 2))):
        chars[i] = _LEET[chars[i].lower()]
    return "".join(chars)


def _drop_char(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1 :]


def _star(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + "*" + word[i + 1 :]


def perturb(text: str, rng: random.Random) -> str:
    """Misspell one or two of the longer words (leetspeak, dropped letter, asterisk)."""
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) >= 5]
    if not idx:
        return text
    op = rng.choice((_leet, _drop_char, _star))
    for i in rng.sample(idx, k=min(len(idx), 2)):
        words[i] = op(words[i], rng)
    return " ".join(words)


@dataclass
class Case:
    text: str
    labels: dict[str, int]
    functionality: str
    group: str | None = None
    meta: dict[str, str] = field(default_factory=dict)


def _fill(frame: str, ident: Identity, name: str, other: Identity | None = None) -> str:
    other = other or ident
    text = frame.format(A=ident.adj, P=ident.plural, N=name, A2=other.adj, P2=other.plural)
    return text[0].upper() + text[1:]


HATE = {"toxicity": 1, "identity_attack": 1, "threat": 0, "severe_toxicity": 0}
HATE_THREAT = {"toxicity": 1, "identity_attack": 1, "threat": 1}
CLEAN = {
    "toxicity": 0,
    "identity_attack": 0,
    "threat": 0,
    "insult": 0,
    "severe_toxicity": 0,
    "obscene": 0,
}
# An insult is not a threat, not obscene and not about identity: said explicitly, because
# heads that only ever saw a handful of real positives otherwise fire on any insult.
INSULT = {
    "toxicity": 1,
    "insult": 1,
    "identity_attack": 0,
    "threat": 0,
    "obscene": 0,
    "severe_toxicity": 0,
}
THREAT = {"toxicity": 1, "threat": 1, "identity_attack": 0, "obscene": 0}
NOT_HATE = {"toxicity": 0, "identity_attack": 0, "threat": 0, "severe_toxicity": 0}


def training_cases(seed: int = 0, per_frame: int = 12) -> list[Case]:
    """Identity x frame cases; each frame is filled with `per_frame` random identities."""
    rng = random.Random(seed)
    out: list[Case] = []

    def grid(frames: Sequence[str], labels: dict[str, int], func: str) -> Iterator[Case]:
        for frame in frames:
            idents = rng.sample(TRAIN_IDENTITIES, k=min(per_frame, len(TRAIN_IDENTITIES)))
            for ident in idents:
                other = rng.choice([i for i in TRAIN_IDENTITIES if i is not ident])
                text = _fill(frame, ident, rng.choice(NAMES), other)
                yield Case(text, dict(labels), func, ident.group)

    out += grid(HATE_FRAMES, HATE, "hate")
    out += grid(DEHUMANISING_FRAMES, HATE, "dehumanising")
    out += grid(IMPLICIT_FRAMES, HATE, "implicit")
    out += grid(DEROGATION_FRAMES, HATE, "hate")
    out += grid(THREAT_FRAMES, HATE_THREAT, "threat")
    out += grid(PERSON_INSULT_FRAMES, {"toxicity": 1, "insult": 1}, "person_insult")
    out += grid(NEGATED_FRAMES, CLEAN, "negation")
    out += grid(COUNTER_FRAMES, {"identity_attack": 0, "threat": 0}, "counter_speech")
    # Counter-speech is not toxic either, but quoting slurs can make annotators disagree: the
    # toxicity label is given only where the quote is mild.
    out += grid(COUNTER_FRAMES[:4], {"toxicity": 0}, "counter_speech")
    out += grid(NEUTRAL_FRAMES, CLEAN, "neutral")
    out += grid(NEUTRAL_FRAMES, CLEAN, "neutral")
    out += grid(POSITIVE_FRAMES, CLEAN, "positive")
    out += grid(IMPLICIT_FRAMES_2, HATE, "implicit")
    out += grid(DEHUMANISING_FRAMES_2, HATE, "dehumanising")
    out += grid(QUESTION_OPINION_FRAMES, HATE, "hate_question")
    out += grid(COUNTER_FRAMES_2, NOT_HATE, "counter_speech")
    out += grid(NEGATED_FRAMES_2, CLEAN, "negation")
    out += grid(MIXED_NEUTRAL_FRAMES, CLEAN, "neutral")
    # Spelling variants of hate: same labels as the clean version.
    for case in [c for c in out if c.functionality in {"hate", "threat", "dehumanising"}]:
        if rng.random() < 0.5:
            out.append(Case(perturb(case.text, rng), dict(case.labels), "spelling", case.group))
    for _ in range(3):
        for text in OBJECT_FRAMES:
            out.append(Case(text, dict(CLEAN), "objects"))
        for text in RECLAIMED + RECLAIMED_2:
            out.append(Case(text, {"toxicity": 0, "identity_attack": 0}, "reclaimed"))
        for text in HOMONYMS:
            out.append(Case(text, dict(CLEAN), "homonym"))
    for _ in range(6):
        for frame in PLAIN_INSULTS + PLAIN_INSULTS_2:
            text = frame.format(N=rng.choice(NAMES))
            out.append(Case(text, dict(INSULT), "insult"))
            # "y0u are an 1d10t": the spelled-out insult is still an insult, and no identity.
            out.append(Case(perturb_insult(text, rng), dict(INSULT), "insult_spelling"))
        for frame in PLAIN_THREATS:
            out.append(Case(frame.format(N=rng.choice(NAMES)), dict(THREAT), "threat"))
    return out


def perturb_insult(text: str, rng: random.Random) -> str:
    """Leetspeak on every word of three letters or more (insults are short)."""
    words = text.split(" ")
    return " ".join(_leet(w, rng) if len(w) >= 3 and rng.random() < 0.7 else w for w in words)


# Identity-term swaps for real comments: only neutral identity words, never slurs (a slur
# replaced by a neutral word would change the label).
# Words that are mostly not about identity in tweets ("straight up", "white house").
_NO_SWAP = frozenset({"straight", "young", "white", "blind", "male", "female", "american"})
_SWAPPABLE = tuple(i for i in TRAIN_IDENTITIES if i.adj.lower() not in _NO_SWAP)
_SWAP_WORDS: tuple[str, ...] = tuple(
    sorted(
        {w for i in _SWAPPABLE for w in (i.adj, i.plural) if " " not in w},
        key=len,
        reverse=True,
    )
)
_SWAP_RE = re.compile(r"\b(" + "|".join(re.escape(w) for w in _SWAP_WORDS) + r")\b", re.I)
_PLURALS = {i.plural.lower() for i in _SWAPPABLE if " " not in i.plural}


def find_identity_terms(text: str) -> list[str]:
    return [m.group(0) for m in _SWAP_RE.finditer(text)]


def _match_case(new: str, old: str) -> str:
    if old.isupper() and len(old) > 1:
        return new.upper()
    if old[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


def swap_identity(text: str, rng: random.Random) -> str | None:
    """Replace each identity word with another identity of the same grammatical form."""
    if not _SWAP_RE.search(text):
        return None
    singles = [i.adj for i in _SWAPPABLE]
    plurals = [i.plural for i in _SWAPPABLE if " " not in i.plural]

    def repl(m: re.Match[str]) -> str:
        old = m.group(0)
        pool = plurals if old.lower() in _PLURALS else singles
        new = rng.choice([w for w in pool if w.lower() != old.lower()])
        return _match_case(new, old)

    return _SWAP_RE.sub(repl, text)
