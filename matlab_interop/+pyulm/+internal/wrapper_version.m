function v = wrapper_version()
%WRAPPER_VERSION Version of pyulm these MATLAB files belong to.
%   The Python package must have exactly this version (checked on every call).
v = '0.1.0';
end
