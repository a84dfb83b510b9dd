# shellcheck shell=bash
phase_cred() { :; }
