"""Operations: health checks and the Prometheus exporter that people who run dxcoder look at."""
