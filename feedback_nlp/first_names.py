"""A small list of common given names, used by :mod:`feedback_nlp.redact` to find names the NER misses.

Where it comes from: written for this project from the most common given names of the US Social Security
Administration's yearly lists (a US government work, public domain) and common given names of the UK,
continental Europe, Latin America, India, China and Africa as they appear in English-language business
text. No third-party list was copied, so no licence applies beyond the project's own.

Names that are also everyday English words or product words (Will, May, Mark, Bill, Grace, Chase, Max,
Sage, ...) are in :data:`AMBIGUOUS_FIRST_NAMES`, not in :data:`FIRST_NAMES`: they are taken as names only
after a cue ("call Will", "Hi May"), never on their own.
"""

from __future__ import annotations

_NAMES = """
aaron abdul abigail adam adrian ahmed aisha alan albert alberto alejandro alessandro alex alexander alexandra
alexis alice alicia alison amanda amelia amir amit amy ana anastasia andrea andreas andrew andy angela anil
anita anja ann anna anne annette anthony antonio anya arjun arthur ashley aurelie barbara beatriz ben
benjamin bernard beth betty bianca bob bobby brandon brenda brian bruno bryan carl carla carlos carmen
carol caroline carolyn catherine cecilia charles charlie charlotte chen chloe chris christian christina
christine christopher claire clara claudia colin craig cynthia daniel daniela danielle darren david
deborah debra deepak denise dennis diana diego dimitri dmitri donald donna doris dorothy douglas dylan
eduardo edward elena elif eliza elizabeth ella ellen emily emma eric erik erin ethan eugene eva evelyn fatima
felipe felix fernando fiona florian francesca francesco francisco frederik gabriel gabriela gareth gemma
george georgia gerald gloria gonzalo gordon greg gregory hannah hans harold harry heather helen helena
henrik henry hiroshi hugo ian igor ines ingrid irene isaac isabel isabella ivan jacob jake james jamie
jan jane janet janice jason javier jeffrey jennifer jeremy jerry jessica joan joanna joe joel johan john
johnny jonathan jordan jorge jose joseph joshua juan judith julia julian julie justin kai karen karin
kate katherine kathleen kathryn katie kayla keith kelly kenneth kevin kim kimberly klaus kyle larry laura
lauren leah lena leo leon li lily linda lisa lorenzo louis louise lucas lucia luis luka lukas madison
magdalena manuel marco marcus margaret maria marie marilyn marina mario marion marta martha martin
mary mateo mateus matteo matthew matthias maya megan mehmet melissa mia michael michelle miguel mikhail
mohamed mohammed muhammad nadia nancy naomi natalia natalie nathan nicholas nicola nicole niklas nikolai
nina noah nora olga oliver olivia omar oscar pablo pamela paolo patricia patrick paul paula pedro peter
philip pierre pooja priya rachel rafael rahul raj rajesh ralph ramon randy raquel ravi rebecca ricardo
richard robert roberto roger ronald rosa ruth ryan samantha samuel sandra sara sarah scott sean sebastian
sergei sergio sharon shirley simon sofia sophia sophie stefan stephanie stephen steven susan sven tanya
teresa terry thomas timothy tobias tom tomas tony tyler valentina vanessa vera victor victoria vikram
vincent virginia walter wei wendy william yan yasmin yuki yusuf zachary zara zoe
aditya akira ali amara ananya andile arnav astrid axel beatrice camille chiara chidi chinedu diya dominik
elias elin emeka emil emilia enzo erika esther farah fabian freya giulia greta gustavo hamza hana harper
hassan ibrahim ibrahima ikram ilse ioana jasper jiahui jin joaquin jonas jun kaito kamal kavya keisha
kenji kofi kwame lars leila lina lorena luana lucy magnus malik marek mariana marisol marta mason mei
milan mina ming mustafa nia nikhil nils noor olivier oskar paulina pavel pieter quentin rania rashid
renata rohan rui sakura santiago saoirse sanjay selin shreya siddharth sina siobhan sunita tariq thiago
tomasz ulrich valeria viktor wanjiru xavier ximena yara yusra zainab zhang ziyad
"""

# Given names that are everyday words too: names only after a cue.
_AMBIGUOUS = """
will may mark bill grace chase max sage amber joy faith hope rose pat art frank rich sky summer autumn
april august june dawn eve ray gene page lane iris ivy ruby jade crystal penny sandy dean drew jack
don young king long jordan georgia virginia santiago milan victoria
"""

FIRST_NAMES = frozenset(_NAMES.split()) - frozenset(_AMBIGUOUS.split())
AMBIGUOUS_FIRST_NAMES = frozenset(_AMBIGUOUS.split())
