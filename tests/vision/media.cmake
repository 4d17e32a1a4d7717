# Image and video decoding (vision/media), against what transformers 4.57.1's loaders produce
# (tests/golden/gen_media.py), plus the bad-input corpus. One binary: media needs the golden corpus.
trimvl_add_gtest(media_golden_tests LABELS golden GOLDEN
  SOURCES media_golden_test.cpp
  LINKS trimvl_media)
