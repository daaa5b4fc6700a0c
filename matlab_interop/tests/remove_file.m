function remove_file(f)
%REMOVE_FILE Delete file f, its name taken literally (Octave's delete expands glob characters such as [x]).
if exist('unlink', 'builtin') || exist('unlink') == 2 %#ok<EXIST>
    unlink(f);
else
    delete(f);
end
end
