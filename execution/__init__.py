"""The worker side: how a claimed run is carried out — its launch plan, the line reader
that turns rank output into log lines, and the sandbox rank processes run in."""
