# -*- coding: utf-8 -*-
# Natron PyPlug: Faceplate Mask. Imports only NatronEngine (a PyPlug importing the GUI module is
# skipped by NatronRenderer). The graph and the knobs are built by faceplate_node; callbacks live in
# FaceplateMaskExt and are resolved through this module.
from __future__ import annotations

import NatronEngine  # noqa: F401  (the host's engine API; nothing else from Natron)

import faceplate_node
from FaceplateMaskExt import afterNodeCreated, createInstanceExt, onInputChanged, onParamChanged  # noqa: F401

OUTPUT_CHOICE = False


def getPluginID():
    return "io.faceplate.FaceplateMask"


def getLabel():
    return "FaceplateMask"


def getVersion():
    return 1


def getGrouping():
    return "Faceplate"


def getIconPath():
    return "FaceplateMask.png"


def getPluginDescription():
    return ("The face matte of a Faceplate swap (R, G, B and A = mask), for grading and keying. Frames render live through the Faceplate engine service, or are read from passes rendered by 'Render passes' or a farm job.")


def createInstance(app, group):
    faceplate_node.build_graph(app, group, OUTPUT_CHOICE)
    faceplate_node.build_knobs(group, OUTPUT_CHOICE)
    faceplate_node.set_callbacks(group, "FaceplateMask")
    createInstanceExt(app, group)
