"""Judgement stage: rule findings + site-level features -> a fitted, explained verdict.

`features` turns a crawled site and its findings into named numbers (and a bag of hashed
words for the text model); `model` holds fitted parameters (rules/model.yaml) and predicts
in pure Python; `fit` (scikit-learn, the `[fit]` extra) refits them from labelled corpora.
"""
