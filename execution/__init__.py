"""The worker side: how a claimed run is carried out (today the launch plan; the
executor, materialisation and backends are to follow)."""
