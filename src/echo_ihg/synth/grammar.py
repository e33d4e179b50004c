"""Template grammar of the synthetic dialogues: topics with slot fillers and utterance templates by kind.

Templates of every kind are split into two disjoint pools: pool "train" (train and val sessions) and
pool "test" (test sessions), so that test dialogues never reuse a sentence pattern seen in training.
Topics and slot fillers are shared: they are vocabulary, not patterns. Backchannel and laughter tokens
("hmm hmm", "yeah", "wow", "ha ha") are a closed class by nature and are shared too.
"""

from __future__ import annotations

TOPICS: dict[str, dict[str, list[str]]] = {
    "travel": {"thing": ["the train", "the flight", "the hotel", "the old town", "the coast road", "the ferry",
                         "the mountain hut", "the night bus"],
               "place": ["Lisbon", "Kyoto", "the Alps", "Norway", "Chicago", "Marseille", "Cork", "Seville"],
               "act": ["hiking", "sightseeing", "cycling along the river", "visiting museums", "swimming"]},
    "work": {"thing": ["the new project", "the quarterly report", "the team meeting", "the client call",
                       "the deadline", "the office move", "the budget review", "the training course"],
             "place": ["the office", "head office", "the warehouse", "the lab", "the new branch", "the studio"],
             "act": ["presenting", "writing code", "planning the launch", "interviewing people", "testing"]},
    "food": {"thing": ["the soup", "the curry", "the bakery", "the new cafe", "the market", "the dumplings",
                       "the lemon cake", "the tomato salad"],
             "place": ["the corner bistro", "the food hall", "my aunt's kitchen", "the harbour", "the night market"],
             "act": ["baking bread", "trying new recipes", "cooking for friends", "making pasta", "grilling"]},
    "music": {"thing": ["the concert", "the new album", "the guitar", "the choir", "the festival", "the piano",
                        "the drummer", "the playlist"],
              "place": ["the old theatre", "the park stage", "the jazz club", "the church hall", "the arena"],
              "act": ["practising scales", "singing", "writing songs", "playing in a band", "learning violin"]},
    "sport": {"thing": ["the match", "the marathon", "the new coach", "the final", "the tennis club",
                        "the swimming pool", "the league table", "the rowing race"],
              "place": ["the stadium", "the sports hall", "the lake", "the track", "the climbing gym"],
              "act": ["running", "training twice a week", "playing football", "climbing", "rowing"]},
    "home": {"thing": ["the garden", "the kitchen", "the new sofa", "the roof", "the neighbours", "the heating",
                       "the balcony", "the bookshelf"],
             "place": ["the new flat", "my parents' house", "the allotment", "the cottage", "the attic"],
             "act": ["painting the walls", "fixing the fence", "planting tomatoes", "tidying up", "moving boxes"]},
    "family": {"thing": ["my sister", "my grandmother", "my cousin", "the kids", "my brother", "my uncle",
                         "the baby", "my parents"],
               "place": ["the family dinner", "the wedding", "the reunion", "the birthday party", "the school"],
               "act": ["visiting relatives", "babysitting", "planning the party", "calling home", "playing games"]},
    "books": {"thing": ["the novel", "the biography", "the poetry book", "the library", "the book club",
                        "the crime story", "the short stories", "the history book"],
              "place": ["the bookshop", "the reading room", "the library", "the literary festival"],
              "act": ["reading at night", "writing reviews", "listening to audiobooks", "reading poetry"]},
    "pets": {"thing": ["the dog", "the cat", "the puppy", "the parrot", "the goldfish", "the rabbit",
                       "the vet", "the new kitten"],
             "place": ["the animal shelter", "the dog park", "the vet clinic", "the pet shop"],
             "act": ["walking the dog", "training the puppy", "feeding the cat", "grooming"]},
    "weather": {"thing": ["the storm", "the heat wave", "the rain", "the first snow", "the fog", "the wind",
                          "the frost", "the sunshine"],
                "place": ["the coast", "the valley", "the city centre", "the hills", "the beach"],
                "act": ["walking in the rain", "sitting in the sun", "shovelling snow", "watching the clouds"]},
    "film": {"thing": ["the film", "the series", "the documentary", "the cinema", "the director",
                       "the sequel", "the soundtrack", "the cartoon"],
             "place": ["the small cinema", "the film festival", "the open air screen", "my friend's place"],
             "act": ["watching old films", "binge watching", "making short videos", "reviewing films"]},
    "study": {"thing": ["the exam", "the thesis", "the lecture", "the seminar", "the course", "the essay",
                        "the lab report", "the scholarship"],
              "place": ["the university", "the evening school", "the campus", "the study hall"],
              "act": ["revising", "learning Spanish", "taking notes", "studying statistics", "reading papers"]},
}

ADJ_POS = ["wonderful", "lovely", "great", "fantastic", "really nice", "brilliant", "amazing", "delightful"]
ADJ_NEG = ["awful", "terrible", "pretty bad", "disappointing", "exhausting", "miserable", "stressful"]
ADJ_NEU = ["fine", "okay", "normal", "pretty usual", "quite long", "a bit different", "alright"]
TIMES = ["last week", "yesterday", "on Sunday", "this morning", "last month", "a few days ago", "on Friday",
         "over the weekend", "last night", "in the spring"]

# kind -> templates. Slots: {thing} {place} {act} {adj} {time}. Every list is split train/test by index.
TEMPLATES: dict[str, list[str]] = {
    "open_question": [
        "So, how was {thing} {time}?", "Have you been {act} lately?", "What did you think of {thing}?",
        "Did you ever go to {place}?", "How is {thing} going these days?", "Are you still into {act}?",
        "What happened with {thing} in the end?", "Do you remember {thing} at {place}?",
        "Tell me, was {thing} as good as people say?", "Were you at {place} {time}?",
        "Is {act} still your favourite thing to do?", "What was the best part of {thing}?",
    ],
    "statement": [
        "I went to {place} {time} and it was {adj}.", "We spent most of the day {act}.",
        "Honestly, {thing} was {adj}.", "I have been thinking about {thing} a lot.",
        "My friend told me about {place}, so we tried it.", "{time} I finally had some time for {act}.",
        "The funny thing is that {thing} was right next to {place}.", "It took us ages to get to {place}.",
        "I think {thing} is {adj}, to be fair.", "We talked about {thing} for hours.",
        "I started {act} again, after a long break.", "Apparently {thing} is moving to {place}.",
    ],
    "answer": [
        "Yes, it was {adj}, actually.", "Not really, I was busy with {thing}.", "Oh, it was {adj}, I think.",
        "Well, we went to {place} instead.", "I did, {time}, with a couple of friends.",
        "Mostly {act}, to be honest.", "It was {adj}, but quite tiring.", "Sort of, I only saw {thing}.",
        "I would say it was {adj}.", "Yes, and we ended up at {place}.", "No, {time} was too busy.",
        "A little, mainly {act}.",
    ],
    "good_news": [
        "Guess what, I got the job at {place}!", "Great news, {thing} worked out perfectly!",
        "I passed! I can hardly believe it.", "We won! {thing} went brilliantly!",
        "They said yes, we are going to {place}!", "My sister had the baby, everyone is healthy!",
        "I finally got the flat near {place}!", "The doctor said everything is perfect!",
        "They loved {thing}, I am so happy!", "I got the scholarship for {place}!",
        "We are getting married in the spring!", "They offered me a promotion {time}!",
    ],
    "bad_news": [
        "I have some bad news, I lost my job {time}.", "My grandmother is in hospital, it is serious.",
        "Unfortunately {thing} was cancelled, and we lost the money.", "I failed the exam, again.",
        "Our dog is very ill, the vet is worried.", "Someone broke into the flat {time}.",
        "I had a bad accident on the way to {place}.", "They closed {place}, everybody was sent home.",
        "My father is not well at all, I am worried.", "We had to cancel the trip to {place}.",
        "I broke my arm {time}, it really hurts.", "My best friend is moving away for good.",
    ],
    "sympathy": [
        "Oh no, I am so sorry to hear that.", "That is awful, how are you holding up?",
        "Oh dear, that sounds really hard.", "I am sorry, is there anything I can do?",
        "That is terrible news, I am so sorry.", "Oh no, that must be so stressful.",
        "How awful, I hope you are okay.", "I am really sorry, that is so unfair.",
    ],
    "congrats": [
        "Wow, congratulations, that is fantastic!", "That is amazing news, well done!",
        "Oh, I am so happy for you!", "Brilliant, you really deserve it!",
        "That is wonderful, we should celebrate!", "Fantastic, I knew you could do it!",
        "Wow, what great news!", "Congratulations, that is so exciting!",
    ],
    "concern_followup": [
        "Is there any news since then?", "How are you coping with all of it?", "Do they know what happens next?",
        "Are you getting some help with it?", "Have you been able to sleep at all?",
        "Is anyone staying with you?", "Did they tell you how long it will take?",
        "Have you talked to anyone about it?",
    ],
    "resolution": [
        "Anyway, the good news is that it is all sorted now.", "It is better now, things are looking up.",
        "Thankfully it all worked out in the end.", "She is recovering well, so I am relieved.",
        "It turned out fine, we found a solution.", "I feel much better about it now, honestly.",
        "Luckily they fixed everything {time}.", "It is okay now, the worst is behind us.",
    ],
    "joke": [
        "And then the {thing} fell right into the pond!", "Of course I got lost on the way to {place}, twice.",
        "I tried {act} and fell over immediately.", "The waiter brought us someone else's birthday cake!",
        "My phone autocorrected {place} to pancake.", "I waved at a stranger who was waving at someone else.",
        "The dog ate my sandwich while I was {act}.", "I wore odd shoes to {thing} all day.",
    ],
    "comment": [
        "That sounds {adj}.", "Really? I did not know that.", "I see, that makes sense.",
        "Oh, interesting, I have never tried {act}.", "That is {adj}, honestly.", "Huh, I would not have guessed.",
        "Right, I heard something similar about {place}.", "Fair enough, {thing} can be like that.",
    ],
}

# espeak reads "mm-hmm" and "mm" as letter names ("em em"); "hmm hmm" / "hmm" sound like the real thing
BACKCHANNELS = {"neutral": ["hmm hmm", "yeah", "right", "uh-huh", "okay", "I see"],
                "positive": ["wow", "oh nice", "yeah"], "negative": ["oh no", "oh dear", "hmm"]}
LAUGHS = ["ha ha", "ha ha ha", "heh heh"]


def template_pool(kind: str, pool: str) -> list[tuple[str, str]]:
    """(template_id, template) of `kind` in pool "train" or "test" (every 4th template is test-only)."""
    items = [(f"{kind}/{i}", t) for i, t in enumerate(TEMPLATES[kind])]
    if pool == "test":
        return [it for i, it in enumerate(items) if i % 4 == 3]
    return [it for i, it in enumerate(items) if i % 4 != 3]
