function t = pick_transport()
%PICK_TRANSPORT 'py' when MATLAB's Python interface is usable, else 'file'.
t = 'file';
if pyulm.internal.is_octave()
    return
end
try
    pe = pyenv();
    if ~isempty(pe.Version)
        t = 'py';
    end
catch
    t = 'file';
end
end
