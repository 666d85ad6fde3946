"""flips"""
