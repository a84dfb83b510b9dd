# shellcheck shell=bash
phase_stock() { :; }
