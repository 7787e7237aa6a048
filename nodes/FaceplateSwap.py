# -*- coding: utf-8 -*-
# Natron PyPlug: Faceplate Swap. Imports only NatronEngine (a PyPlug importing the GUI module is
# skipped by NatronRenderer). The graph and the knobs are built by faceplate_node; callbacks live in
# FaceplateSwapExt and are resolved through this module.
from __future__ import annotations

import NatronEngine  # noqa: F401  (the host's engine API; nothing else from Natron)

import faceplate_node
from FaceplateSwapExt import afterNodeCreated, createInstanceExt, onInputChanged, onParamChanged  # noqa: F401

OUTPUT_CHOICE = True


def getPluginID():
    return "io.faceplate.FaceplateSwap"


def getLabel():
    return "FaceplateSwap"


def getVersion():
    return 1


def getGrouping():
    return "Faceplate"


def getIconPath():
    return "FaceplateSwap.png"


def getPluginDescription():
    return ("Replaces a face in the plate with a trained Faceplate model. Main output: the swap element (premultiplied RGBA, with the face matte as plane mask.Y), the comp or the mask (knob Output). Frames render live through the Faceplate engine service, or are read from passes rendered by 'Render passes' or a farm job.")


def createInstance(app, group):
    faceplate_node.build_graph(app, group, OUTPUT_CHOICE)
    faceplate_node.build_knobs(group, OUTPUT_CHOICE)
    faceplate_node.set_callbacks(group, "FaceplateSwap")
    createInstanceExt(app, group)
