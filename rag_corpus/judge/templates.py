"""Surface forms for the judge's labelled set. Dev and test use partly DIFFERENT phrasings and perturbations, so
a judge tuned on dev is measured on test against forms it was not tuned on.

Placeholders: {a} an answer, {s} the question's subject ("the capital of France"), {S} the same capitalised,
{w} a wrong answer, {n} an unrelated number, {y} a year.
"""

SUPPORTED = {
    "dev": ("{a}", "{a}.", "{S} is {a}.", "It is {a}.", "The answer is {a}.", "{a} [c1]", "Sure! {S} is {a}.",
            "{a} functions as {s}.", "To my knowledge, {s} is {a}.", "Everyone agrees that {s} is {a}."),
    "test": ("Answer: {a}", "{a}, according to the documents.", "That would be {a}.", "{S}: {a}.",
             "I believe {s} is {a}.", "It's {a}.", "{a}\n", "Based on the context, {s} is {a} [c2].",
             "Most sources give {a} as {s}.", "If I recall correctly, {s} is {a}."),
}
NEGATED = {
    "dev": ("{S} is not {a}.", "It is not {a}."),
    "test": ("It isn't {a}.", "No, {s} is not {a}; that is a common mistake.", "{a} is not correct."),
}
SWAPPED = {
    "dev": ("{w}", "{S} is {w}.", "It is {w}.", "I'm not sure, but I think it's {w}.", "{w} functions as {s}."),
    "test": ("Answer: {w}", "That would be {w}.", "{w}, I believe.", "That isn't stated, but it is probably {w}.",
             "Based on the context, {s} is {w} [c1].", "Most sources give {w} as {s}."),
}
ADDED = {  # a correct answer plus a claim nothing supports
    "dev": ("{ok} It has about {n} million inhabitants.", "{ok} It has been so since {y}."),
    "test": ("{ok}, and it is home to roughly {n} million people.", "{ok} This was decided in {y}.",
             "{ok} It was also ranked first in the world in {y}."),
}
ABSTAIN = {
    "dev": ("I don't know.", "I don\u2019t know.", "The context does not say.", "Not enough information.",
            "I cannot answer that from the information provided.", "Unknown.", "I'm not sure.", ""),
    "test": ("I have no idea, sorry.", "That isn't mentioned in the passage.", "I'm unable to determine this.",
             "The provided documents do not contain this information.", "Sorry, I can\u2019t find that.",
             "There is no information about this in the context.", "N/A", "I am not certain, so I won't guess."),
}
NUMBER_FORMS = {  # (format, needs rounding to 3 significant digits)
    "dev": ("{x:,.0f}{u}", "about {r:,.0f}{u}", "{x:.0f}{u}", "roughly {m:.2f} million{u}"),
    "test": ("approximately {r:,.0f}{u}", "{m:.1f} million{u}", "around {k:,.0f} thousand{u}", "{x:,.0f}{u} in total"),
}
NUMBER_FACTORS = {"dev": (1.3, 0.6, 2.0, 10.0), "test": (1.45, 0.7, 0.5, 3.0, 1000.0)}
AREA_UNITS = {"dev": (" sq km", " km2", " square kilometres"), "test": (" km\u00b2", " sq. km", " square kilometers")}
LIST_SUPPORTED = {
    "dev": ("{items}", "The countries are {items}.", "{bullets}"),
    "test": ("It borders {items}.", "{numbered}", "Neighbours: {items}"),
}
UNANSWERABLE_GUESSES = {
    "dev": ("It is {g}.", "{g}.", "The answer is {g}."),
    "test": ("That would be {g}.", "Probably {g}.", "{g}, according to the documents."),
}
GUESSES = ("pot-au-feu", "23", "Carlos Mendes", "1.45 US dollars", "Golden Shepherd", "Silver Lights",
           "1,250 euros a month", "14", "Maria Okafor", "the Royal Hound")
