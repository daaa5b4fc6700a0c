function v = version()
%VERSION Version of the pyulm MATLAB/Octave wrapper (the Python package must match).
v = pyulm.internal.wrapper_version();
end
