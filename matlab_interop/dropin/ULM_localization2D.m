function MatTracking = ULM_localization2D(MatIn, ULM)
%ULM_LOCALIZATION2D PALA-compatible ULM_localization2D running on pyulm (drop-in).
%   MatTracking = ULM_localization2D(MatIn, ULM); ULM.LocMethod reaches every
%   method of pyulm.available_methods(). See pyulm.ULM_localization2D.
pyulm.internal.dropin_check();  % warns once if PALA's copies are ahead of this folder
pyulm.internal.check_count('ULM_localization2D', nargin, 2, 2, 'inputs');
MatTracking = pyulm.ULM_localization2D(MatIn, ULM);
end
