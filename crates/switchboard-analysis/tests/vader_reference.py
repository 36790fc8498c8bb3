"""Print vaderSentiment's compound score of each line of a UTF-8 file.

Used by tests/vader_reference.rs. Exits with status 3 when the
vaderSentiment package is not installed (the test then skips, outside CI).
Scores are printed as vaderSentiment returns them, rounded to 4 places.
"""
import sys

try:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
except ImportError:
    sys.exit(3)


def main():
    analyzer = SentimentIntensityAnalyzer()
    with open(sys.argv[1], encoding="utf-8", newline="\n") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out = []
    for line in lines:
        out.append(repr(analyzer.polarity_scores(line)["compound"]))
    sys.stdout.write("\n".join(out) + "\n")


main()
